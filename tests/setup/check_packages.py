#!/usr/bin/env python3
"""check_packages.py - everything the build took from the host comes from a
package that tools/setup.sh installs.

usage: check_packages.py BUILDDIR PACKAGES_TXT [HOST_FILE...]

A fresh Debian 12 machine has only what tools/setup.sh installs, so every
program, library and pkg-config module that meson found while configuring
BUILDDIR (read from BUILDDIR/meson-logs/meson-log.txt), and every HOST_FILE
the tests read (SeaBIOS, memtest86+, the kernel source), must be a file of a
package listed in PACKAGES_TXT or of a package those depend on (Depends and
Pre-Depends, recursively, as dpkg records them: setup installs without
Recommends).  Prints one line per item with its owner; exits 1 if any item
has no owner, an owner outside that set, or a listed package is not
installed.
"""
import os
import re
import shutil
import subprocess
import sys


def read_packages(path):
    pkgs = []
    with open(path) as f:
        for line in f:
            pkgs += line.split('#')[0].split()
    return pkgs


def installed_packages():
    """{name: (provides, depends)} for every installed package."""
    fmt = '${Package}\t${db:Status-Abbrev}\t${Provides}\t${Depends}, ${Pre-Depends}\n'
    out = subprocess.run(['dpkg-query', '-W', '-f', fmt], capture_output=True,
                         text=True, check=True).stdout
    db = {}
    for line in out.splitlines():
        name, status, provides, depends = line.split('\t')
        if not status.startswith('ii'):
            continue
        prov, deps = db.setdefault(name, (set(), set()))
        prov.update(names(provides))
        deps.update(names(depends))
    return db


def names(field):
    """Package names in a Depends-like field, every alternative included."""
    out = set()
    for rel in re.split(r'[,|]', field):
        rel = re.sub(r'\(.*?\)|\[.*?\]|<.*?>', '', rel).strip()
        if rel:
            out.add(rel.split(':')[0])
    return out


def closure(listed, db):
    """The listed packages and every installed package they depend on."""
    providers = {}
    for name, (prov, _) in db.items():
        for p in prov:
            providers.setdefault(p, set()).add(name)
    via = {p: None for p in listed if p in db}
    todo = list(via)
    while todo:
        p = todo.pop()
        for dep in db[p][1]:
            for q in ({dep} if dep in db else set()) | providers.get(dep, set()):
                if q not in via:
                    via[q] = p
                    todo.append(q)
    return via


def dpkg_owner(path):
    """The packages that own PATH, trying each symlink on the way to the
    file and the /usr-merged twin of each (Debian 12 registers some files
    under /bin, /lib)."""
    tried = []
    p = path
    for _ in range(16):
        tried.append(p)
        if not os.path.islink(p):
            break
        p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(p)))
    tried.append(os.path.realpath(path))
    for p in tried:
        for q in (p, re.sub(r'^/usr/', '/', p) if p.startswith('/usr/') else '/usr' + p):
            r = subprocess.run(['dpkg-query', '-S', q], capture_output=True, text=True)
            for line in r.stdout.splitlines():
                if line.startswith('diversion ') or not line.endswith(': ' + q):
                    continue
                owners = line[:-len(': ' + q)]
                return q, [o.strip().split(':')[0] for o in owners.split(',')]
    return path, []


def meson_findings(builddir):
    """(what, path) for every program, library and pkg-config module meson
    found; path None for one it did not find."""
    log = os.path.join(builddir, 'meson-logs', 'meson-log.txt')
    with open(log, errors='replace') as f:
        text = f.read()
    src = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
    items = []
    for m in re.finditer(r'^Program (\S+) found: (YES|NO)(?: \((.*)\))?', text, re.M):
        if m.group(2) == 'NO':
            items.append(('program ' + m.group(1), None))
            continue
        for word in (m.group(3) or '').split():
            path = os.path.realpath(word) if os.path.isabs(word) else ''
            if os.path.isabs(word) and not path.startswith(src + os.sep):
                items.append(('program ' + m.group(1), word))
    for m in re.finditer(r'^Found pkg-config: (\S+)', text, re.M):
        items.append(('program pkg-config', m.group(1)))
    m = re.search(r'^C compiler for the host machine: (\S+)', text, re.M)
    cc = m.group(1) if m else 'cc'
    items.append(('C compiler', shutil.which(cc)))
    m = re.search(r'^C linker for the host machine: \S+ (ld\.\S+)', text, re.M)
    if m:
        items.append(('linker', shutil.which(m.group(1))))
    for m in re.finditer(r'^Library (\S+) found: (YES|NO)', text, re.M):
        path = None
        if m.group(2) == 'YES':
            for suffix in ('.so', '.a'):
                r = subprocess.run([cc, '-print-file-name=lib%s%s' % (m.group(1), suffix)],
                                   capture_output=True, text=True)
                p = os.path.normpath(r.stdout.strip())
                if os.path.isabs(p):
                    path = p
                    break
        items.append(('library ' + m.group(1), path))
    for m in re.finditer(r'^Run-time dependency (\S+) found: (YES|NO)', text, re.M):
        path = None
        if m.group(2) == 'YES':
            r = subprocess.run(['pkg-config', '--path', m.group(1)], capture_output=True,
                               text=True)
            path = r.stdout.strip() or None
        items.append(('pkg-config ' + m.group(1), path))
    return items


def main():
    if len(sys.argv) < 3:
        print(__doc__.split('\n\n')[1])
        return 2
    builddir, pkgfile, host_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    listed = read_packages(pkgfile)
    db = installed_packages()
    via = closure(listed, db)
    bad = 0
    for p in listed:
        if p not in db:
            print('FAIL: %s is listed in %s but not installed' % (p, pkgfile))
            bad += 1
    items = meson_findings(builddir)
    items += [('file', f) for f in host_files]
    seen = set()
    for what, path in items:
        if (what, path) in seen:
            continue
        seen.add((what, path))
        if path is None:
            print('FAIL: %s: not found on this machine' % what)
            bad += 1
            continue
        owned_path, owners = dpkg_owner(path)
        ok = [o for o in owners if o in via]
        if not owners:
            print('FAIL: %s: %s belongs to no Debian package' % (what, path))
            bad += 1
        elif not ok:
            print('FAIL: %s: %s is from %s, which is not in %s (nor needed by a package '
                  'there)' % (what, owned_path, ', '.join(owners), pkgfile))
            bad += 1
        else:
            how = 'listed' if via[ok[0]] is None else 'needed by ' + via[ok[0]]
            print('ok: %s: %s from %s (%s)' % (what, owned_path, ok[0], how))
    print('%d items checked, %d problems' % (len(seen), bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
