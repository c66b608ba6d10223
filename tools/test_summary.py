#!/usr/bin/env python3
"""test_summary.py - one closing line for the test runs: "N passed, N failed".

Reads meson's testlog.json files (one JSON object per test).  A skipped test
(exit 77) is counted apart, on the line before, never as passed.  Exit
status 1 on any failure or when no test ran at all.
"""
import json
import sys

def main():
    passed = failed = skipped = 0
    for path in sys.argv[1:]:
        build = path.split('/')[0]
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            print('test_summary: %s: %s' % (path, e.strerror))
            failed += 1
            continue
        for line in lines:
            t = json.loads(line)
            result = t.get('result')
            if result in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif result == 'SKIP':
                skipped += 1
                print('SKIPPED [%s] %s' % (build, t.get('name')))
            else:
                failed += 1
                print('FAILED [%s] %s: %s' % (build, t.get('name'), result))
    print('%d skipped' % skipped)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed or passed == 0 else 0

if __name__ == '__main__':
    sys.exit(main())
