// The preflight says exactly what is missing (not root, which programs, from which Debian
// package) so that `npm run test:lab` fails with the fix instead of hanging or skipping.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labRequirements, preflightMessage, preflightProblems, SERVICE_NAMES } from './harness/index.js';
import { CSI_SANITY, CSI_SANITY_INSTALL } from './harness/sanity.js';

const everything = labRequirements({ nodes: [{ name: 'all', services: SERVICE_NAMES }] });

test('this host has everything the lab needs (else: the list of what is missing)', () => {
  const problems = preflightProblems({
    requirements: everything,
    files: [{ path: CSI_SANITY, fix: `csi-sanity is not installed: ${CSI_SANITY_INSTALL}` }],
  });
  assert.deepEqual(problems, [], preflightMessage(problems));
});

test('without root, and without packages, the preflight names each missing thing and its package', () => {
  const problems = preflightProblems({
    requirements: everything,
    uid: 1000,
    findProgram: (p) => (['targetcli', 'iscsid', 'iscsiadm'].includes(p) ? undefined : `/usr/bin/${p}`),
    files: [{ path: '/nonexistent/csi-sanity', fix: 'install csi-sanity' }],
  });
  assert.deepEqual(problems.slice(0, 1), [
    'the lab must run as root (uid is 1000): it creates network namespaces and boots User-Mode Linux',
  ]);
  assert.ok(problems.includes('missing targetcli (Debian package targetcli-fb)'), problems.join('\n'));
  assert.ok(problems.includes('missing iscsid, iscsiadm (Debian package open-iscsi)'), problems.join('\n'));
  assert.ok(problems.includes('missing /nonexistent/csi-sanity: install csi-sanity'), problems.join('\n'));
  assert.match(preflightMessage(problems), /^the lab cannot run on this host:\n {2}- the lab must run as root/);
  assert.match(preflightMessage(problems), /test\/lab\/install-deps\.sh/);
});

test('each service lists what it needs from the host', () => {
  for (const name of SERVICE_NAMES) {
    const needs = labRequirements({ nodes: [{ name: 'n', services: [name] }] });
    assert.ok(needs.length > labRequirements({ nodes: [{ name: 'n' }] }).length, `${name} lists no requirement`);
  }
});
