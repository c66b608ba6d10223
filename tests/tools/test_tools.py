#!/usr/bin/env python3
"""test_tools.py - the trace database tools through the flashback command.

usage: test_tools.py FLASHBACK MAKE_TRACE GUEST_DIR FORMAT_MD CASE

Most cases write a synthetic trace with make_trace (the trace library),
which also writes the truth: every event it appended.  What flashback
query / events / console / export print is compared with that truth.
'recording' records a real test guest with flashback record.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FB = MAKE = GUESTS = FORMAT_MD = TMP = None
N_EVENTS = 60000  # 30 chunks of 2000 events

KIND = {'port-read': 1, 'mmio-read': 2, 'interrupt': 3, 'dma-write': 4, 'time-read': 5,
        'map-change': 6, 'check': 7, 'console': 8, 'snapshot': 9, 'end': 10}
NAME = {v: k for k, v in KIND.items()}


def run(*args, timeout=120):
    p = subprocess.run([FB] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


def ok(*args):
    code, out, err = run(*args)
    assert code == 0, 'flashback %s: status %d, stderr %r' % (' '.join(map(str, args)), code, err)
    return out, err


def fails(*args, status=2, match=None):
    """A refused command: one line on stderr, the status, no crash."""
    code, out, err = run(*args)
    lines = err.strip().splitlines()
    assert code == status, 'flashback %s: status %d (want %d), stderr %r' % (
        ' '.join(map(str, args)), code, status, err)
    assert len(lines) == 1 and lines[0].startswith('flashback: '), 'not one line: %r' % err
    assert 'AddressSanitizer' not in err and 'runtime error' not in err, err
    if match:
        assert re.search(match, lines[0]), 'message %r does not match %r' % (lines[0], match)
    return lines[0]


class Ev:
    def __init__(self, line):
        f = line.split()
        self.icount, self.kind, self.addr, self.size = int(f[0]), int(f[1]), int(f[2]), int(f[3])
        self.value, self.value2, self.flags = int(f[4]), int(f[5]), int(f[6])
        self.data = None if f[7] == '-' else bytes.fromhex(f[7])


def make(name='t', n=N_EVENTS):
    trace = os.path.join(TMP, name + '.fbt')
    truth = os.path.join(TMP, name + '.truth')
    p = subprocess.run([MAKE, trace, str(n), truth], capture_output=True)
    assert p.returncode == 0, p.stderr
    with open(truth) as f:
        return trace, [Ev(line) for line in f]


def payload(e):
    """The payload flashback events prints for a truth event (as documented)."""
    k = e.kind
    if k == 1:
        return 'port 0x%x size %d -> 0x%x' % (e.addr, e.size, e.value)
    if k == 2:
        return 'addr 0x%x size %d -> 0x%x' % (e.addr, e.size, e.value)
    if k == 3:
        return {0x100: 'NMI', 0x101: 'INIT', 0x102: 'SMI'}.get(e.value, 'vector 0x%02x' % e.value)
    if k == 4:
        return 'addr 0x%x len %d' % (e.addr, e.size)
    if k == 5:
        if e.addr == 0:
            return 'rdtsc -> %d' % e.value
        if e.addr >> 32:
            return 'rdmsr 0x%x refused (#GP)' % (e.addr & 0xffffffff)
        return 'rdmsr 0x%x -> 0x%x' % (e.addr, e.value)
    if k == 6:
        return {1: 'view', 2: 'a20', 3: 'reset'}.get(e.addr, '?') + ' (kind %d) len %d' % (
            e.addr, e.size)
    if k == 7:
        return 'cpu %016x' % e.value + (' ram %016x' % e.value2 if e.flags & 1 else '')
    if k == 8:
        return None  # text: checked separately
    if k == 9:
        return 'snapshot %d' % e.value
    return 'final hash %016x' % e.value


LINE = re.compile(r'^\s*(\d+)  (\S+)\s+(.*)$')


def events(trace, *args):
    out, err = ok('events', trace, *args)
    rows = []
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, 'bad events line %r' % line
        rows.append((int(m.group(1)), m.group(2), m.group(3)))
    m = re.search(r'(\d+) events; (\d+) of (\d+) chunks read from the journal', err)
    assert m, err
    assert int(m.group(1)) == len(rows)
    return rows, int(m.group(2)), int(m.group(3))


def compare(rows, truth):
    assert len(rows) == len(truth), 'got %d events, want %d' % (len(rows), len(truth))
    for (icount, kind, text), e in zip(rows, truth):
        assert icount == e.icount and kind == NAME[e.kind], ((icount, kind), e.icount, e.kind)
        want = payload(e)
        if want is not None:
            assert text.startswith(want), '%d %s: %r, want %r' % (icount, kind, text, want)


# ---- query -----------------------------------------------------------------

def case_query_table():
    trace, truth = make()
    out, _ = ok('query', trace, 'SELECT kind, name, count FROM counts ORDER BY kind')
    lines = out.splitlines()
    assert re.match(r'^kind\s+name\s+count$', lines[0]), lines[0]
    assert re.match(r'^-+  -+  -+$', lines[1]), lines[1]
    # Columns are aligned: every line has its second column at the same offset.
    col = lines[0].index('name')
    counts = {}
    for line in lines[2:]:
        assert line[col - 2:col] == '  ' and line[col] != ' ', line
        kind, name, count = line.split()
        counts[int(kind)] = int(count)
        assert NAME[int(kind)] == name
    for k in KIND.values():
        assert counts.get(k, 0) == sum(1 for e in truth if e.kind == k), k
    # NULL prints empty; several statements run in turn.
    out, _ = ok('query', trace, 'SELECT NULL AS a, 7 AS b; SELECT 42 AS answer')
    assert out.splitlines()[2].split() == ['7'], out
    assert '42' in out.splitlines()[-1]


def case_query_csv_json():
    trace, truth = make()
    out, _ = ok('query', trace, '--csv',
                "SELECT icount, line FROM console WHERE line LIKE '%panic%'")
    lines = out.splitlines()
    assert lines[0] == 'icount,line'
    panic = [e for e in truth if e.kind == 8 and e.data.startswith(b'kernel panic')]
    assert lines[1:] == ['%d,kernel panic: attempted to kill init' % panic[0].icount], lines
    out, _ = ok('query', trace, '--csv', "SELECT 'a,b' AS x, 'say \"hi\"' AS y")
    assert out.splitlines()[1] == '"a,b","say ""hi"""', out
    out, _ = ok('query', trace, '--json',
                'SELECT icount, kind, port, value, value2 FROM events WHERE kind = 3 '
                'ORDER BY icount LIMIT 5')
    rows = json.loads(out)
    want = [e for e in truth if e.kind == 3][:5]
    assert [r['icount'] for r in rows] == [e.icount for e in want]
    assert [r['value'] for r in rows] == [e.value for e in want]
    assert all(r['port'] is None and r['value2'] is None for r in rows)
    assert json.loads(ok('query', trace, '--json', 'SELECT 1 WHERE 0')[0]) == []
    out, _ = ok('query', trace, '--json', "SELECT x'00ff' AS b, 1.5 AS f, 'é\t' AS t")
    assert json.loads(out) == [{'b': "x'00ff'", 'f': 1.5, 't': '\u00c3\u00a9 '}], out


def case_query_readonly():
    trace, _ = make()
    before = ok('query', trace, 'SELECT count(*) FROM bookmarks; SELECT count(*) FROM events')[0]
    for sql in ["INSERT INTO bookmarks VALUES (1, 'x', 'y')", 'DELETE FROM events',
                'UPDATE meta SET value = 0', 'DROP TABLE events', 'CREATE TABLE x(a)',
                'SELECT 1; DELETE FROM events', 'PRAGMA journal_mode = DELETE',
                'REPLACE INTO meta VALUES (1, 2)', 'VACUUM']:
        fails('query', trace, sql, match='only read-only SQL|not authorized|read-only')
    fails('query', trace, "ATTACH '%s/x.db' AS x" % TMP)
    assert not os.path.exists(os.path.join(TMP, 'x.db'))
    after = ok('query', trace, 'SELECT count(*) FROM bookmarks; SELECT count(*) FROM events')[0]
    assert before == after


def case_query_errors():
    trace, _ = make()
    fails('query', trace, 'SELEC 1', match='syntax error')
    fails('query', trace, 'SELECT nope FROM events', match='no such column: nope')
    fails('query', trace, 'SELECT * FROM nosuch', match='no such table: nosuch')
    fails('query', trace)
    fails('query', trace, '--xml', 'SELECT 1', match='unknown option')
    fails('query')


def case_format_examples():
    """Every example query of traces/FORMAT.md runs; the INSERT is refused."""
    trace, truth = make()
    with open(FORMAT_MD) as f:
        text = f.read()
    block = text.split('## Example queries')[1].split('```sql')[1].split('```')[0]
    sql = '\n'.join(l for l in block.splitlines() if not l.strip().startswith('--'))
    stmts = [s.strip() for s in sql.split(';') if s.strip()]
    assert len(stmts) >= 10, stmts
    for s in stmts:
        if s.upper().startswith('INSERT'):
            fails('query', trace, s, match='only read-only SQL')
        else:
            out, _ = ok('query', trace, s)
            assert len(out.splitlines()) >= 2, (s, out)
    # The interrupts-by-vector example gives the truth's counts (the index holds them all).
    out, _ = ok('query', trace, '--csv', [s for s in stmts if 'GROUP BY value' in s][0])
    got = {l.split(',')[0]: int(l.split(',')[1]) for l in out.splitlines()[1:]}
    want = {}
    for e in truth:
        if e.kind == 3:
            want['0x%02x' % e.value] = want.get('0x%02x' % e.value, 0) + 1
    assert got == want, (got, want)


def case_format_sqlite3():
    """FORMAT.md's example queries give the same rows through flashback query and the stock
    sqlite3 shell; its table of tables names every table, column and index of index.sqlite."""
    import csv
    import io
    import sqlite3
    trace, _ = make()
    with open(FORMAT_MD) as f:
        text = f.read()
    block = text.split('## Example queries')[1].split('```sql')[1].split('```')[0]
    sql = '\n'.join(l for l in block.splitlines() if not l.strip().startswith('--'))
    stmts = [s.strip() for s in sql.split(';') if s.strip()]
    shell = shutil.which('sqlite3')
    assert shell, 'the sqlite3 shell is not installed'
    db = os.path.join(trace, 'index.sqlite')

    def sqlite3_shell(path, s, readonly=True):
        uri = 'file:%s?mode=ro' % path if readonly else path
        p = subprocess.run([shell, '-csv', '-header', uri, s], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert p.returncode == 0 and not p.stderr, (s, p.stderr)
        return list(csv.reader(io.StringIO(p.stdout.decode())))

    compared = nonempty = 0
    for s in stmts:
        if s.upper().startswith('INSERT'):
            continue
        want = sqlite3_shell(db, s)
        got = list(csv.reader(io.StringIO(ok('query', trace, '--csv', s)[0])))
        # (the shell prints no header when there is no row)
        assert got == want or (not want and len(got) == 1), (s, got[:3], want[:3])
        compared += 1
        nonempty += len(want) > 1
    assert compared >= 10 and nonempty >= 8, (compared, nonempty)
    # The INSERT works in sqlite3 (on a copy), and flashback then lists the bookmark.
    copy = os.path.join(TMP, 'copy.fbt')
    shutil.copytree(trace, copy)
    insert = [s for s in stmts if s.upper().startswith('INSERT')]
    assert insert, 'no INSERT example'
    for s in insert:
        sqlite3_shell(os.path.join(copy, 'index.sqlite'), s, readonly=False)
    sel = [s for s in stmts if 'FROM bookmarks' in s][0]
    got = list(csv.reader(io.StringIO(ok('query', copy, '--csv', sel)[0])))
    assert got == sqlite3_shell(os.path.join(copy, 'index.sqlite'), sel) and len(got) == 2, got
    # Every table and column is documented, and every index by its columns.
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True)
    objects = con.execute("SELECT type, name, tbl_name FROM sqlite_master "
                          "WHERE name NOT LIKE 'sqlite_%'").fetchall()
    assert any(t == 'table' for t, _, _ in objects)
    for typ, name, table in objects:
        if typ in ('table', 'view'):
            assert '`%s`' % name in text, 'FORMAT.md does not name %s %s' % (typ, name)
            for col in con.execute('PRAGMA table_info(%s)' % name).fetchall():
                assert '`%s`' % col[1] in text, 'FORMAT.md: no column %s.%s' % (name, col[1])
        elif typ == 'index':
            cols = [r[2] for r in con.execute('PRAGMA index_info(%s)' % name)]
            assert '%s(%s)' % (table, ', '.join(cols)) in text, \
                'FORMAT.md does not list index %s on %s(%s)' % (name, table, ', '.join(cols))
    con.close()


# ---- events ----------------------------------------------------------------

def case_events_all():
    trace, truth = make()
    rows, journal, chunks = events(trace)
    assert chunks == 30 + 1 or chunks >= 30, chunks
    compare(rows, truth)
    # The console text comes from the console table on the index path...
    cons = [(r, e) for r, e in zip(rows, truth) if e.kind == 8]
    assert cons
    # ... and exactly from the journal with --journal, which must agree on everything else.
    jrows, jchunks, _ = events(trace, '--journal')
    assert jchunks == chunks
    compare(jrows, truth)
    for (icount, kind, text), e in zip(jrows, truth):
        if e.kind == 8:
            want = e.data.decode().replace('\n', '\\n')
            assert text == '"%s"' % want, (text, want)
        if e.kind == 4:
            assert text.endswith('[%s ...]' % ' '.join('%02x' % b for b in e.data[:16])), text


def case_events_filters():
    trace, truth = make()
    last = truth[-1].icount
    for args, pred in [
        (['--kind', 'interrupt'], lambda e: e.kind == 3),
        (['--kind', '4'], lambda e: e.kind == 4),
        (['--kind', 'check', '--kind', 'snapshot'], lambda e: e.kind in (7, 9)),
        (['--kind', 'time-read'], lambda e: e.kind == 5),
        (['--kind', 'map-change'], lambda e: e.kind == 6),
        (['--kind', 'console', '--from', '200000', '--to', '400000'],
         lambda e: e.kind == 8 and 200000 <= e.icount <= 400000),
        (['--port', '0x21'], lambda e: e.kind == 1 and e.addr == 0x21),
        (['--addr', '0xfee00020'], lambda e: e.kind == 2 and e.addr == 0xfee00020),
        (['--addr', '0x7e00'], lambda e: e.kind == 4 and e.addr == 0x7e00),
        (['--addr', '16'], lambda e: e.kind == 5 and e.addr == 16),
        (['--from', '300000', '--to', '300500'], lambda e: 300000 <= e.icount <= 300500),
        (['--kind', 'end'], lambda e: e.kind == 10),
        (['--from', str(last), '--to', str(last)], lambda e: e.icount == last),
        (['--port', '0x21', '--kind', 'dma-write'], lambda e: False),
    ]:
        want = [e for e in truth if pred(e)]
        rows, journal, _ = events(trace, *args)
        compare(rows, want)
        assert want or args[0] == '--port', args
    # Interrupts and DMA: every chunk lists them all, no journal read.  (Port
    # 0x21 shares its kind with the polled 0x3fd, so its chunks are sampled.)
    for args in (['--kind', 'interrupt'], ['--kind', 'dma-write'], ['--kind', 'snapshot']):
        assert events(trace, *args)[1] == 0, args
    rows = events(trace, '--limit', '7')[0]
    compare(rows, truth[:7])


def case_events_sampled():
    """0x3fd is polled: the index samples it, the exact reads come from the journal."""
    trace, truth = make()
    want = [e for e in truth if e.kind == 1 and e.addr == 0x3fd]
    idx = int(ok('query', trace, '--csv', 'SELECT count(*) FROM events WHERE port = 0x3fd')[0]
              .splitlines()[1])
    assert idx < len(want), (idx, len(want))  # sampled
    rows, journal, chunks = events(trace, '--port', '0x3fd')
    compare(rows, want)
    sampled = int(ok('query', trace, '--csv', 'SELECT count(*) FROM chunk_counts '
                     'WHERE kind = 1 AND indexed < count')[0].splitlines()[1])
    assert journal == sampled and chunks - 2 <= sampled < chunks, (journal, sampled, chunks)
    assert sum(1 for _, _, t in rows if t.endswith('0x61')) == sum(1 for e in want if e.value == 0x61)
    # A range touches only the chunks that cover it.
    lo, hi = want[len(want) // 2].icount, want[len(want) // 2 + 500].icount
    rows, journal, _ = events(trace, '--port', '0x3fd', '--from', lo, '--to', hi)
    compare(rows, [e for e in want if lo <= e.icount <= hi])
    assert 1 <= journal <= 3, journal
    # Every kind together, in a range crossing chunk boundaries.
    rows, journal, _ = events(trace, '--from', lo, '--to', hi)
    compare(rows, [e for e in truth if lo <= e.icount <= hi])


def case_events_bad():
    trace, truth = make()
    last = truth[-1].icount
    fails('events', trace, '--kind', 'bogus', match="unknown event kind 'bogus'")
    fails('events', trace, '--kind', '11', match='unknown event kind')
    fails('events', trace, '--kind', match='needs')
    fails('events', trace, '--port', 'abc', match="'abc' is not a number")
    fails('events', trace, '--port', '0x10000', match='not an I/O port')
    fails('events', trace, '--from', '-5', match='not a number')
    fails('events', trace, '--from', '12x', match='not a number')
    fails('events', trace, '--to', '99999999999999999999999', match='not a number')
    fails('events', trace, '--from', last + 1, match='outside the recording')
    fails('events', trace, '--to', last + 1, match='outside the recording')
    fails('events', trace, '--from', '2000', '--to', '1000', match='after')
    fails('events', trace, '--frobnicate', match='unknown option')
    fails('events', match='usage')


def case_query_plan():
    """The index queries search an index: no full scan of events or console."""
    trace, _ = make()
    for args in (['events', trace, '--port', '0x3fd', '--plan'],
                 ['events', trace, '--kind', 'interrupt', '--plan'],
                 ['events', trace, '--addr', '0x7c00', '--plan'],
                 ['events', trace, '--from', '1000', '--to', '5000', '--plan'],
                 ['console', trace, '--grep', 'panic', '--plan']):
        out, _ = ok(*args)
        steps = [l.strip() for l in out.splitlines() if l.startswith('  ')]
        assert steps, out
        for s in steps:
            assert s.startswith('SEARCH') and 'USING' in s, (args, s)
        if '--port' in args:
            assert any('events_port' in s for s in steps), out
    # Users can look at plans too (EXPLAIN is read-only).
    out, _ = ok('query', trace, 'EXPLAIN QUERY PLAN SELECT icount FROM events '
                'WHERE port = 0x3fd AND icount BETWEEN 0 AND 5000000')
    assert 'events_port' in out, out


# ---- console ---------------------------------------------------------------

def console_lines(truth):
    """The console lines the index should hold: bytes joined, split at newlines."""
    lines, cur, at = [], b'', None
    for e in truth:
        if e.kind != 8:
            continue
        for i, b in enumerate(e.data):
            if at is None:
                at = e.icount
            if b == 10:
                lines.append((at, cur.decode()))
                cur, at = b'', None
            else:
                cur += bytes([b])
    return lines


def case_console():
    trace, truth = make()
    out, _ = ok('console', trace)
    got = []
    for line in out.splitlines():
        m = re.match(r'^\[(\d+)\] (.*)$', line)
        assert m, line
        got.append((int(m.group(1)), m.group(2)))
    assert got == console_lines(truth), (got[:3], console_lines(truth)[:3])
    lo, hi = got[3][0], got[6][0]
    out, _ = ok('console', trace, '--from', lo, '--to', hi)
    assert len(out.splitlines()) == 4
    fails('console', trace, '--from', truth[-1].icount + 1, match='outside the recording')
    fails('console', trace, '--to', 'x', match='not a number')


def case_console_grep():
    trace, truth = make()
    want = [l for l in console_lines(truth) if 'panic' in l[1]]
    code, out, err = run('console', trace, '--grep', 'panic')
    assert code == 0, err
    assert out.splitlines() == ['[%d] %s' % w for w in want], out
    assert 'monitor goto %d' % want[0][0] in err, err
    out, err = ok('console', trace, '--grep', 'line 1')
    want = [l for l in console_lines(truth) if 'line 1' in l[1]]
    assert len(out.splitlines()) == len(want) > 1
    code, out, err = run('console', trace, '--grep', 'no such text')
    assert code == 1 and out == '' and 'no console line contains' in err, (code, out, err)
    # Case-sensitive substring, not a pattern.
    assert run('console', trace, '--grep', 'PANIC')[0] == 1
    assert run('console', trace, '--grep', 'l%e')[0] == 1
    fails('console', trace, '--grep', match='needs')


# ---- export ----------------------------------------------------------------

def check_perfetto(path, truth=None, shift=0):
    with open(path) as f:
        doc = json.load(f)
    assert isinstance(doc, dict) and isinstance(doc['traceEvents'], list)
    assert doc['otherData']['icount_shift'] == shift
    names, last_ts, seen = {}, {}, {}
    for ev in doc['traceEvents']:
        assert isinstance(ev, dict)
        for key, typ in (('ph', str), ('pid', int), ('tid', int), ('name', str)):
            assert isinstance(ev.get(key), typ), (key, ev)
        assert ev['ph'] in ('M', 'C', 'i'), ev
        if ev['ph'] == 'M':
            assert ev['name'] in ('process_name', 'thread_name') and 'name' in ev['args']
            names[ev['tid']] = ev['args']['name']
            continue
        assert isinstance(ev['ts'], (int, float)) and ev['ts'] >= 0, ev
        assert isinstance(ev['args'], dict), ev
        if ev['ph'] == 'i':
            assert ev['s'] == 't', ev
            assert ev['ts'] == (ev['args']['icount'] << shift) / 1000, ev
        else:
            assert all(isinstance(v, (int, float)) for v in ev['args'].values()), ev
        track = (ev['tid'], ev['name']) if ev['ph'] == 'C' else ev['tid']
        assert ev['ts'] >= last_ts.get(track, 0), ('ts goes back on', track, ev)
        last_ts[track] = ev['ts']
        seen.setdefault(ev['tid'], []).append(ev)
    for tid in seen:
        assert tid in names, 'track %d has no name' % tid
    return doc, names, seen


def case_export_perfetto():
    trace, truth = make()
    path = os.path.join(TMP, 'timeline.json')
    ok('export', trace, '--perfetto', path)
    doc, names, seen = check_perfetto(path, truth, shift=2)
    by_name = {v: k for k, v in names.items()}
    dma = seen[by_name['DMA']]
    assert [e['args']['icount'] for e in dma] == [e.icount for e in truth if e.kind == 4]
    cons = seen[by_name['console']]
    assert [(e['args']['icount'], e['args']['line']) for e in cons] == console_lines(truth)
    snaps = seen[by_name['snapshots']]
    assert [e['args']['file'] for e in snaps] == ['snap-000001.fbs']
    ports = seen[by_name['port I/O (sampled)']]
    n_idx = int(ok('query', trace, '--csv', 'SELECT count(*) FROM events WHERE kind = 1')[0]
                .splitlines()[1])
    assert len(ports) == n_idx > 0
    # Interrupt rates integrate to the exact number of interrupts per vector.
    bin_s = (doc['otherData']['irq_bin_icounts'] << 2) * 1e-9
    irq = seen[by_name['interrupts']]
    for vec, label in ((0x20, 'vector 0x20'), (0x2e, 'vector 0x2e'), (0x100, 'NMI')):
        pts = [e for e in irq if e['name'].endswith(label)]
        assert pts, label
        total = sum(e['args']['rate'] for e in pts[:-1]) * bin_s
        want = sum(1 for e in truth if e.kind == 3 and e.value == vec)
        assert abs(total - want) < 0.01 * want + 0.01, (label, total, want)
    fails('export', trace, match='usage')
    fails('export', trace, '--perfetto', match='needs')
    fails('export', trace, '--perfetto', os.path.join(TMP, 'no/such/dir.json'), status=4,
          match='cannot create')


def case_progress():
    """A progress line on a terminal (after FLASHBACK_PROGRESS_DELAY seconds), none elsewhere."""
    import pty
    trace, truth = make()
    env = dict(os.environ, FLASHBACK_PROGRESS_DELAY='0')
    master, slave = pty.openpty()
    p = subprocess.Popen([FB, 'events', trace, '--journal'], stdout=subprocess.DEVNULL,
                         stderr=slave, env=env)
    os.close(slave)
    err = b''
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        err += data
    assert p.wait(timeout=60) == 0
    os.close(master)
    text = err.decode(errors='replace')
    assert re.search(r'\rflashback: reading: +\d+% \(\d+/\d+ chunks\)\x1b\[K', text), repr(text)
    assert '\r\x1b[K' in text, repr(text)  # erased at the end
    p = subprocess.run([FB, 'events', trace, '--journal'], capture_output=True, env=env)
    assert p.returncode == 0 and b'reading:' not in p.stderr, p.stderr


def case_query_progress():
    """A long query shows its seconds on a terminal (stdout in a file), never in a pipe."""
    trace, _ = make()
    sql = ('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) '
           'SELECT count(*) FROM c')
    env = dict(os.environ, FLASHBACK_PROGRESS_DELAY='0')
    text = read_pty(['query', trace, sql], env)
    assert re.search(r'\rflashback: querying: \d+\.\d s\x1b\[K', text), repr(text)
    assert text.endswith('\r\x1b[K'), repr(text)
    p = subprocess.run([FB, 'query', trace, sql], capture_output=True, env=env)
    assert p.returncode == 0 and p.stderr == b'' and p.stdout.split()[-1] == b'300000', p


# ---- bad traces --------------------------------------------------------------

def case_bad_traces():
    trace, _ = make()
    plain = os.path.join(TMP, 'plain.txt')
    with open(plain, 'w') as f:
        f.write('not a trace\n')
    empty = os.path.join(TMP, 'empty.fbt')
    os.mkdir(empty)
    garbage = os.path.join(TMP, 'garbage.fbt')
    os.mkdir(garbage)
    with open(os.path.join(garbage, 'journal.fbj'), 'wb') as f:
        f.write(os.urandom(4096))
    badindex = os.path.join(TMP, 'badindex.fbt')
    shutil.copytree(trace, badindex)
    with open(os.path.join(badindex, 'index.sqlite'), 'wb') as f:
        f.write(b'this is not a database' * 100)
    future = os.path.join(TMP, 'future.fbt')
    shutil.copytree(trace, future)
    with open(os.path.join(future, 'journal.fbj'), 'r+b') as f:
        f.seek(8)
        f.write((99).to_bytes(4, 'little'))
    for t in (os.path.join(TMP, 'missing.fbt'), plain, empty, garbage, badindex, future):
        for cmd in (['query', t, 'SELECT 1'], ['events', t], ['console', t],
                    ['export', t, '--perfetto', os.path.join(TMP, 'x.json')]):
            line = fails(*cmd)
            if t == future:
                assert 'newer' in line, line


def case_corrupt_chunk():
    """A damaged chunk in the middle: the header scan passes, reading it fails cleanly."""
    trace, truth = make()
    out, _ = ok('query', trace, '--csv', 'SELECT offset, compressed_size FROM chunks WHERE number = 10')
    off, size = map(int, out.splitlines()[1].split(','))
    with open(os.path.join(trace, 'journal.fbj'), 'r+b') as f:
        f.seek(off + 48 + size // 2)
        b = f.read(1)
        f.seek(off + 48 + size // 2)
        f.write(bytes([b[0] ^ 0xff]))
    line = fails('events', trace, '--port', '0x3fd', match='chunk 10')
    assert 'journal.fbj' in line, line
    fails('events', trace, '--journal')
    # What the index answers alone still works.
    ok('events', trace, '--kind', 'interrupt')
    ok('console', trace)
    ok('query', trace, 'SELECT count(*) FROM events')


# ---- a real recording ------------------------------------------------------------

def case_recording():
    trace = os.path.join(TMP, 'timer.fbt')
    elf = os.path.join(GUESTS, 'timer.elf')
    assert os.path.exists(elf), elf
    p = subprocess.run([FB, 'record', '-o', trace, '--check-interval', '100000', '-kernel', elf,
                        '-serial', 'stdio'], capture_output=True, timeout=120)
    assert p.returncode == 1, p.stderr
    live = p.stdout.decode().splitlines()
    out, _ = ok('console', trace)
    assert [re.sub(r'^\[\d+\] ', '', l) for l in out.splitlines()] == live, (out, live)
    code, out, err = run('console', trace, '--grep', 'PASS timer')
    assert code == 0 and out.startswith('[') and 'monitor goto' in err
    counts = dict(l.split(',') for l in ok('query', trace, '--csv',
                                           'SELECT name, count FROM counts')[0].splitlines()[1:])
    irq, _, _ = events(trace, '--kind', 'interrupt')
    assert len(irq) == int(counts['interrupt']) > 0
    assert all(t == 'vector 0x20' for _, _, t in irq), irq[:3]
    # Port reads: the index samples them; events gives them all, exactly.
    reads, _, _ = events(trace, '--kind', 'port-read')
    assert len(reads) == int(counts['port-read'])
    jreads, _, _ = events(trace, '--kind', 'port-read', '--journal')
    assert reads == jreads
    ports = {re.match(r'port (0x[0-9a-f]+)', t).group(1) for _, _, t in reads}
    for port in sorted(ports)[:3]:
        rows, _, _ = events(trace, '--port', port)
        assert rows == [r for r in reads if r[2].startswith('port %s ' % port)], port
    rows, _, _ = events(trace, '--kind', 'end')
    assert len(rows) == 1 and rows[0][2].startswith('final hash ')
    path = os.path.join(TMP, 'timer.json')
    ok('export', trace, '--perfetto', path)
    doc, names, seen = check_perfetto(path)
    assert any(n == 'interrupts' for n in names.values())


# ---- disasm and trace ------------------------------------------------------------

INSN = re.compile(r'^\s*(\d+)  ([0-9a-f]{4}):([0-9a-f]{4,8}) +\(([0-9a-f]{8})\)  '
                  r'((?:[0-9a-f]{2} )*[0-9a-f]{2}) +(.*)$')
NOTE = re.compile(r'^\s+-- (.*)$')
CHANGE = re.compile(r'(\w+)=([0-9a-f]+) \(was ([0-9a-f]+)')
GPRS = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi']


class Insn:
    def __init__(self, m):
        self.icount, self.cs, self.eip = int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16)
        self.linear = int(m.group(4), 16)
        self.bytes = bytes.fromhex(m.group(5))
        rest = m.group(6)
        self.text = re.split(r'  +', rest)[0]
        self.changes = {c[0]: (int(c[1], 16), int(c[2], 16)) for c in CHANGE.findall(rest)}
        self.retired = '(did not retire)' not in rest


def listing(out):
    """Lines of disasm / trace: Insn objects and notes (strings), in order."""
    items = []
    for line in out.splitlines():
        m = INSN.match(line)
        if m:
            items.append(Insn(m))
            continue
        m = NOTE.match(line)
        assert m, 'bad listing line %r' % line
        items.append(m.group(1))
    return items


def record(name, *machine, status=1):
    trace = os.path.join(TMP, name + '.fbt')
    p = subprocess.run([FB, 'record', '-o', trace] + list(machine), capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode == status, (p.returncode, p.stderr)
    return trace, p.stdout.decode(errors='replace')


def guest(name):
    elf = os.path.join(GUESTS, name + '.elf')
    assert os.path.exists(elf), elf
    return record(name, '-kernel', elf, '-serial', 'stdio')


def cpu_at(trace, icount):
    """Registers after replaying to @icount (flashback replay --until)."""
    out, _ = ok('replay', trace, '--until', icount)
    regs = {k.lower(): int(v, 16) for k, v in re.findall(r'\b([A-Z]{3})=([0-9a-f]{8})\b', out)}
    regs['cs'] = int(re.search(r'^CS =([0-9a-f]{4})', out, re.M).group(1), 16)
    return regs


def case_disasm():
    """Addresses, bytes and changed registers agree with replay --until, step by step;
    the timer interrupt comes where the journal says."""
    trace, _ = guest('timer')
    irq = [r[0] for r in events(trace, '--kind', 'interrupt')[0]]
    k = irq[2]
    lo, hi = k - 6, k + 5
    out, _ = ok('trace', trace, '--from', lo, '--to', hi)
    items = listing(out)
    insns = [i for i in items if isinstance(i, Insn)]
    assert [i.icount for i in insns] == list(range(lo, hi + 1)), out
    notes = [(n, items[j + 1]) for j, n in enumerate(items) if isinstance(n, str)]
    assert len(notes) == 1 and notes[0][0].startswith('interrupt vector 0x20 delivered'), out
    assert notes[0][1].icount == k, out
    # disasm --at gives the same lines.
    assert ok('disasm', trace, '--at', lo, '-n', hi - lo + 1)[0] == out
    state = {i: cpu_at(trace, i) for i in range(lo, hi + 2)}
    for i in insns:
        before, after = state[i.icount], state[i.icount + 1]
        if i.icount != k:  # before the interrupt: the instruction at CS:EIP
            assert (i.cs, i.eip) == (before['cs'], before['eip']), (i.icount, hex(i.eip))
        assert i.linear == i.eip  # flat segments
        if not re.match(r'j|call|ret|iret|int', i.text):
            assert after['eip'] == i.eip + len(i.bytes), (i.icount, i.text)
        want = {r: (after[r], before[r]) for r in GPRS if after[r] != before[r]}
        if after['efl'] != before['efl']:
            want['eflags'] = (after['efl'], before['efl'])
        assert i.changes == want, (i.icount, i.text, i.changes, want)
    # The handler's first instruction took the interrupt frame (EFLAGS, CS, EIP).
    h = [i for i in insns if i.icount == k][0]
    assert h.changes['esp'][0] <= h.changes['esp'][1] - 12, h.changes
    # The bytes are the guest's: the ELF holds them at that address (flat load).
    code = open(os.path.join(GUESTS, 'timer.elf'), 'rb').read()
    for i in insns[:3]:
        assert i.bytes in code, (i.icount, i.bytes)


def case_disasm_exceptions():
    """Faults are found and named; their addresses are the ones the guest's handler saw."""
    trace, live = guest('exceptions')
    seen = [(int(v), int(e, 16)) for v, e in re.findall(r'vector +(\d+) err 0x[0-9a-f]+ eip 0x([0-9a-f]+)', live)]
    assert len(seen) >= 8, live
    end = int(re.search(r'final icount (\d+)', ok('info', trace)[0]).group(1))
    items = listing(ok('trace', trace, '--from', 0, '--to', end - 1)[0])
    faults = []
    for j, n in enumerate(items):
        if isinstance(n, str):
            assert n.startswith('exception '), n
            m = re.match(r'exception #\w+ \(vector 0x([0-9a-f]{2})\) delivered$', n)
            assert m, n
            bad = items[j - 1]
            assert not bad.retired and bad.icount == items[j + 1].icount, (bad, items[j + 1])
            faults.append((int(m.group(1), 16), bad.eip))
    # Faults point at the instruction; traps (int3, into) come after it and are instructions.
    assert faults == [(v, e) for v, e in seen if v not in (3, 4)], (faults, seen)
    for v, e in seen:
        if v in (3, 4):
            assert any(isinstance(i, Insn) and i.eip + len(i.bytes) == e and
                       i.text == ('int3' if v == 3 else 'into') for i in items), (v, e)
    insns = [i for i in items if isinstance(i, Insn)]
    assert [i.icount for i in insns if i.retired] == list(range(0, end))


def case_disasm_modes():
    """Real mode from the reset vector (16-bit decoding, CS:IP and linear address)."""
    bios = '/usr/share/seabios/bios.bin'
    assert os.path.exists(bios), 'seabios is not installed'
    trace, _ = record('bios', '-bios', bios, '-max-insns', '3000', status=0)
    items = listing(ok('disasm', trace, '--at', '0', '-n', '4')[0])
    first = items[0]
    assert (first.cs, first.eip, first.linear) == (0xf000, 0xfff0, 0xfffffff0), vars(first)
    assert first.bytes == bytes.fromhex('ea5be000f0'), first.bytes
    assert first.text == 'ljmp 0xf000:0xe05b', first.text
    # The next instruction is where the far jump went, at CS base 0xf0000.
    assert (items[1].cs, items[1].eip, items[1].linear) == (0xf000, 0xe05b, 0xfe05b)
    state = cpu_at(trace, 1)
    assert state['eip'] == 0xe05b and state['cs'] == 0xf000
    out, _ = ok('trace', trace, '--from', 0, '--to', 2999)
    insns = [i for i in listing(out) if isinstance(i, Insn)]
    assert len(insns) == 3000
    # 16-bit decoding: a 66h prefix means a 32-bit operand (e.g. mov esp, imm32).
    for i in insns:
        if i.cs == 0xf000 and i.bytes[:1] == b'\x66' and re.match(r'mov e[a-z]{2}, 0x', i.text):
            break
    else:
        assert False, 'no operand-size prefixed move in 16-bit code'
    out, _ = ok('disasm', trace, '--at', 2998, '-n', 5)
    assert out.splitlines()[-1].strip() == '-- the recording ends at icount 3000', out


def case_disasm_bad():
    trace, _ = guest('timer')
    end = int(re.search(r'final icount (\d+)', ok('info', trace)[0]).group(1))
    fails('disasm', trace, '--at', end, match='icount %d is outside the recording' % end)
    fails('disasm', trace, '--at', end + 1000, match='outside the recording')
    fails('trace', trace, '--from', 10, '--to', end, match='icount %d is outside' % end)
    fails('trace', trace, '--from', 20, '--to', 10, match='after')
    fails('disasm', trace, '--at', 'x', match="'x' is not a number")
    fails('disasm', trace, '--at', '-1', match='not a number')
    fails('disasm', trace, '--at', 5, '-n', 0, match='at least one')
    fails('disasm', trace, match='usage')
    fails('trace', trace, '--from', 5, match='usage')
    fails('disasm', trace, '--at', 5, '--bogus', match='unknown option')
    fails('disasm', os.path.join(TMP, 'missing.fbt'), '--at', 5)
    # A damaged chunk the replay must pass through: one line, status 2.
    out, _ = ok('query', trace, '--csv', 'SELECT offset, compressed_size, first_icount '
                'FROM chunks ORDER BY number DESC LIMIT 1')
    off, size, first = map(int, out.splitlines()[1].split(','))
    with open(os.path.join(trace, 'journal.fbj'), 'r+b') as f:
        f.seek(off + 48 + size // 2)
        b = f.read(1)
        f.seek(off + 48 + size // 2)
        f.write(bytes([b[0] ^ 0xff]))
    line = fails('disasm', trace, '--at', end - 10, match='chunk')
    assert 'journal.fbj' in line, line
    # A snapshot file that is not one.
    with open(os.path.join(trace, 'snap-000000.fbs'), 'wb') as f:
        f.write(b'garbage' * 10)
    fails('disasm', trace, '--at', 5)


def history_lines(out):
    """The write lines of flashback history: (icount, who, size, old, new)."""
    return [(int(m.group(1)), m.group(2), int(m.group(3)), m.group(4), m.group(5))
            for m in re.finditer(r'^\s*(\d+)  (dma|page walker|[0-9a-f]{4}:[0-9a-f]{8}) .* '
                                 r'0x[0-9a-f]{8}\s+(\d+)  (\S+) -> (\S+)$', out, re.M)]


def case_history():
    """flashback history of the ata guest's DMA buffer: the two DMAs, linear
    and --phys alike, --from/--to a part of it, --save as table history."""
    trace, _ = record('ata', '-kernel', os.path.join(GUESTS, 'ata.elf'), '-hda',
                      os.path.join(GUESTS, 'guest-disk.img'), '-serial', 'stdio')
    end = int(re.search(r'final icount (\d+)', ok('info', trace)[0]).group(1))
    dma = [r[0] for r in events(trace, '--kind', 'dma-write')[0]]
    buf = int([line.split()[0] for line in subprocess.run(
        ['nm', os.path.join(GUESTS, 'ata.elf')], capture_output=True, text=True).stdout.splitlines()
        if line.endswith(' buf')][0], 16)
    out, _ = ok('history', trace, '--addr', hex(buf), '--len', 8)
    assert out.startswith('writes to physical 0x%08x-0x%08x from icount 0 to %d:\n' %
                          (buf, buf + 7, end)), out
    lines = history_lines(out)
    assert re.search(r'^%d writes$' % len(lines), out, re.M), out
    got = [(i, size) for i, who, size, _, _ in lines if who == 'dma']
    assert got == [(i, 8) for i in dma], (got, dma)  # both DMAs, clipped to the range
    # the first DMA reads sector 10 of the pattern disk: "FBDK", then 10
    assert [n for _, w, _, _, n in lines if w == 'dma'][0] == '0000000a4b444246', lines
    assert ok('history', trace, '--addr', hex(buf), '--len', 8, '--phys')[0] == out
    # a part of the recording: exactly the writes inside it
    lo, hi = dma[0] - 10, dma[-1]
    part = history_lines(ok('history', trace, '--addr', hex(buf), '--len', 8, '--from', lo,
                            '--to', hi)[0])
    assert part == [w for w in lines if lo <= w[0] < hi], (part, lo, hi)
    # --save: the same writes as rows of table history
    out, _ = ok('history', trace, '--addr', hex(buf), '--len', 8, '--save')
    assert "saved as table history, query = 'phys=0x%08x len=8 from=0 to=%d'" % (buf, end) in out
    rows, _ = ok('query', trace, '--csv', 'SELECT icount, dma, size, hex(new) FROM history '
                 'ORDER BY rowid')
    rows = [r.split(',') for r in rows.splitlines()[1:]]
    assert [int(r[0]) for r in rows] == [w[0] for w in lines], rows
    assert [int(r[0]) for r in rows if r[1] == '1'] == dma, rows


def case_history_bad():
    """Bad history requests: one line, status 2."""
    trace, _ = guest('timer')
    end = int(re.search(r'final icount (\d+)', ok('info', trace)[0]).group(1))
    fails('history', trace, '--addr', 0x104000, '--len', 0, match='--len 0: 1 to')
    fails('history', trace, '--addr', 0x104000, '--len', 16 * 2**20 + 1, match='1 to 16777216')
    fails('history', trace, '--addr', 0xfffffffe, '--len', 4, match='beyond 4 GiB')
    fails('history', trace, '--addr', 2**32, '--len', 1, match='beyond 4 GiB')
    fails('history', trace, '--addr', 0x104000, '--from', end + 1,
          match='the recording spans icount 0 to %d' % end)
    fails('history', trace, '--addr', 0x104000, '--to', end + 1, match='spans icount')
    fails('history', trace, '--addr', 0x104000, '--from', 20, '--to', 10, match='spans icount')
    fails('history', trace, '--addr', 0xf0000000, match='not mapped to RAM at icount 0')
    fails('history', trace, '--addr', 0xfee00300, '--phys', match='--phys: not RAM or ROM')
    fails('history', trace, '--addr', 0x7fff000, '--len', 0x2000, '--phys',
          match='not RAM or ROM')  # the last page of RAM and the hole after it
    fails('history', trace, '--addr', 'x', match="'x' is not a number")
    fails('history', trace, '--addr', 0x104000, '--from', '-1', match='not a number')
    fails('history', trace, '--len', 4, match='usage')
    fails('history', trace, '--addr', 0x104000, '--bogus', match="unknown option '--bogus'")
    fails('history', os.path.join(TMP, 'missing.fbt'), '--addr', 0x104000)
    # the paging guest's window page at 0x40000000 maps page A, the next
    # page nothing: a range across both is not one physical range
    trace, _ = guest('paging')
    nm = subprocess.run(['nm', os.path.join(GUESTS, 'paging.elf')], capture_output=True,
                        text=True).stdout
    page_a = int(re.search(r'^([0-9a-f]+) \w page_a$', nm, re.M).group(1), 16)
    out, _ = ok('history', trace, '--addr', hex(page_a + 0x200), '--phys')
    m = re.search(r'^\s*(\d+)  \S+\s+mov dword ptr \[0x40000200\], eax .* -> cafef00d$', out,
                  re.M)
    assert m, out  # the write through the window, where paging maps it
    out, _ = ok('history', trace, '--addr', 0x40000200, '--from', m.group(1))
    assert out.startswith('writes to physical 0x%08x-' % (page_a + 0x200)), out
    fails('history', trace, '--addr', 0x40000ffc, '--len', 8, '--from', m.group(1),
          match='the pages are not one physical range at icount')


def read_pty(args, env):
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([FB] + [str(a) for a in args], stdout=subprocess.DEVNULL,
                         stderr=slave, env=env)
    os.close(slave)
    err = b''
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        err += data
    assert p.wait(timeout=120) == 0, err
    os.close(master)
    return err.decode(errors='replace')


def case_disasm_progress():
    """Replaying to a position shows progress on a terminal, nothing in a pipe."""
    trace, _ = guest('timer')
    end = int(re.search(r'final icount (\d+)', ok('info', trace)[0]).group(1))
    env = dict(os.environ, FLASHBACK_PROGRESS_DELAY='0')
    text = read_pty(['disasm', trace, '--at', end - 5, '-n', 2], env)
    assert re.search(r'\rflashback: replaying: +\d+% \(\d+/\d+ instructions\)\x1b\[K', text), \
        repr(text)
    assert text.endswith('\r\x1b[K'), repr(text)
    p = subprocess.run([FB, 'disasm', trace, '--at', str(end - 5), '-n', '2'],
                       capture_output=True, env=env)
    assert p.returncode == 0 and p.stderr == b'', p.stderr
    # With the default delay of a second, a short replay stays silent on a terminal too.
    env = dict(os.environ)
    env.pop('FLASHBACK_PROGRESS_DELAY', None)
    assert 'replaying' not in read_pty(['disasm', trace, '--at', 100, '-n', 1], env)


def main():
    global FB, MAKE, GUESTS, FORMAT_MD, TMP
    FB, MAKE, GUESTS, FORMAT_MD, case = sys.argv[1:6]
    TMP = tempfile.mkdtemp(prefix='fbtools-')
    try:
        globals()['case_' + case]()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print('ok', case)


if __name__ == '__main__':
    main()
