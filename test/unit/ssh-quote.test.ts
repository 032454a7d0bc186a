// The SSH runner's command line, fed to real shells exactly as sshd does (`<shell> -c <line>`):
// every hostile argument must arrive as one argument, byte for byte, and nothing may run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { local } from '../../src/exec/index.js';
import { parseHostKey, remoteCommand, shellQuote } from '../../src/exec/ssh.js';
import { keyPair } from './ssh-server.js';

const HOSTILE = [
  'plain', 'two words', '  leading and trailing  ', "it's", "'", "''", '"', '"double" quotes', "mixed '\" quotes",
  '$(touch PWNED)', '`touch PWNED`', '${HOME}', '$HOME', '$0', '$@', '$$', '; touch PWNED', '| touch PWNED', '&& touch PWNED',
  '|| touch PWNED', '& touch PWNED', "'; touch PWNED #", "x'; touch PWNED; echo '", 'line one\nline two', '\n', '\r\n', '\t',
  '-n', '--help', '-', '--', '-e \\n', '', ' ', '*', '?', '[a-z]*', '~', '~root', '!', '!!', '#', 'a#b', '\\', '\\\\', '\\n',
  'ünïcödé ✓ 漢字 🙂', 'a=b', 'PATH=/tmp', '>PWNED', '<PWNED', '2>PWNED', '(subshell)', '{a,b}', '%s', '%n', '\x01\x7f',
];

// Every POSIX shell the host has: sshd runs the command with the user's login shell.
const seen = new Set<string>();
const SHELLS = ['/bin/sh', '/bin/dash', '/bin/bash', '/usr/bin/ksh', '/bin/mksh', '/usr/bin/zsh', '/bin/busybox']
  .filter((s) => existsSync(s) && !seen.has(realpathSync(s)) && seen.add(realpathSync(s)));

async function viaShell(shell: string, line: string, cwd: string): Promise<string[]> {
  const argv = shell.endsWith('busybox') ? ['sh', '-c', line] : ['-c', line];
  const r = await local.run(shell, argv, { cwd });
  return r.stdout.split('\0').slice(0, -1);
}

test('shellQuote: single quotes, with each quote closed, escaped and reopened', () => {
  assert.equal(shellQuote('abc'), "'abc'");
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(remoteCommand('lvs', ['-o', 'a b']), "exec 'lvs' '-o' 'a b'");
  assert.equal(remoteCommand('lvs', [], { LVM_SUPPRESS_FD_WARNINGS: '1' }), "exec env 'LVM_SUPPRESS_FD_WARNINGS=1' 'lvs'");
  assert.equal(remoteCommand('lvs', [], { A: '1' }, '/tmp', 61), "cd '/tmp' || exit 1; exec timeout -s KILL 61 env 'A=1' 'lvs'");
  assert.throws(() => remoteCommand('lvs', [], {}, undefined, 0.5), /whole number/);
});

test(`hostile arguments arrive literally through ${SHELLS.join(', ')}`, async () => {
  assert.ok(SHELLS.includes('/bin/sh'));
  const cwd = mkdtempSync(join(tmpdir(), 'poolcsi-quote-'));
  try {
    for (const shell of SHELLS) {
      // printf repeats its format for every argument: each one comes back NUL-terminated.
      const got = await viaShell(shell, remoteCommand('printf', ['%s\\0', ...HOSTILE]), cwd);
      assert.deepEqual(got, HOSTILE, `${shell} split or expanded an argument`);
    }
    // As the runner sends it: under the host's `timeout`.
    assert.deepEqual(await viaShell('/bin/sh', remoteCommand('printf', ['%s\\0', ...HOSTILE], { A: "'$(x)'" }, undefined, 30), cwd), HOSTILE);
    // One at a time too (the shells agree above), so a failure names the argument.
    for (const a of HOSTILE) assert.deepEqual(await viaShell('/bin/sh', remoteCommand('printf', ['%s\\0', a]), cwd), [a], JSON.stringify(a));
    assert.deepEqual(readdirSync(cwd), [], 'a hostile argument created a file');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('hostile environment values and a hostile working directory arrive literally', async () => {
  const cwd = mkdtempSync(join(tmpdir(), "poolcsi-quote-'$(x)-"));
  try {
    for (const shell of SHELLS) {
      // All values at once; env -0 prints NAME=value entries NUL-terminated.
      const env = Object.fromEntries(HOSTILE.map((v, i) => [`POOLCSI_V${i}`, v]));
      const line = remoteCommand('env', ['-0'], env, cwd);
      const r = await local.run(shell, shell.endsWith('busybox') ? ['sh', '-c', line] : ['-c', line], { cwd: '/' });
      const got = new Map(r.stdout.split('\0').map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
      HOSTILE.forEach((v, i) => assert.equal(got.get(`POOLCSI_V${i}`), v, `${shell}: ${JSON.stringify(v)}`));
      const pwd = await local.run(shell, shell.endsWith('busybox') ? ['sh', '-c', remoteCommand('pwd', [], {}, cwd)] : ['-c', remoteCommand('pwd', [], {}, cwd)]);
      assert.equal(pwd.stdout, `${cwd}\n`);
    }
    // An unset variable is unset, not empty.
    const line = remoteCommand('sh', ['-c', 'echo ${HOME-unset}'], { HOME: undefined });
    assert.equal((await local.run('/bin/sh', ['-c', line])).stdout, 'unset\n');
    assert.deepEqual(readdirSync(cwd), []);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('programs, environment names and directories that are not plain are refused', () => {
  for (const p of ['ls -la', '$(id)', 'a;b', '../bin/ls', '-i', '--help', '', 'a\nb', 'ls`id`']) {
    assert.throws(() => remoteCommand(p, []), TypeError, JSON.stringify(p));
  }
  assert.throws(() => remoteCommand('ls', ['a\0b']), /not a clean string/);
  for (const n of ['A B', '1A', 'A=B', 'A;B', '', 'A-B', '$(x)']) assert.throws(() => remoteCommand('ls', [], { [n]: 'x' }), /environment variable name/);
  assert.throws(() => remoteCommand('ls', [], { A: 'x\0y' }), /not a clean string/);
  assert.throws(() => remoteCommand('ls', [], {}, 'relative/dir'), /not an absolute path/);
  assert.doesNotThrow(() => remoteCommand('/usr/sbin/lvcreate', ['-n', 'x']));
});

test('host keys: a key line or a SHA256 fingerprint, nothing else', async () => {
  const k = keyPair();
  const fromLine = parseHostKey(k.public);
  assert.equal(fromLine.type, 'ssh-ed25519');
  // The fingerprint is the one ssh-keygen prints for the same key.
  const dir = mkdtempSync(join(tmpdir(), 'poolcsi-fp-'));
  try {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'k.pub'), `${k.public}\n`);
    const printed = (await local.run('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')])).stdout;
    assert.equal(printed.split(' ')[1], fromLine.fingerprint);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(parseHostKey(fromLine.fingerprint), { fingerprint: fromLine.fingerprint });
  assert.deepEqual(parseHostKey(`${k.public} root@storage`), fromLine);
  for (const bad of ['', 'SHA256:short', 'MD5:aa:bb', 'ssh-ed25519', 'ssh-dss AAAAB3NzaC1kc3M=', `ssh-rsa ${k.public.split(' ')[1]}`, 'ssh-ed25519 not*base64']) {
    assert.throws(() => parseHostKey(bad), TypeError, bad);
  }
});
