#!/usr/bin/env python3
"""skip.py - stands in for tests that cannot run on this machine.

Usage: skip.py REASON...

Prints the reason and exits 77, which meson records as SKIP and
tools/test_summary.py counts as skipped, never as passed.
"""
import sys

print('skipped: ' + ' '.join(sys.argv[1:]))
sys.exit(77)
