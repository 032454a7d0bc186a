import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPoolcsi } from './helpers.js';

test('metrics count RPCs by method and code, with latency', async () => {
  const h = await startPoolcsi({ extra: { metricsAddress: '127.0.0.1:0' } });
  try {
    await h.identity('Probe', {});
    await h.controller('CreateVolume', { name: 'm', volume_capabilities: [], parameters: {} }).catch(() => undefined);
    const res = await fetch(`http://${h.metricsAddress}/metrics`);
    const text = await res.text();
    assert.match(text, /poolcsi_rpc_total\{method="Probe",code="OK"\} \d+/);
    assert.match(text, /poolcsi_rpc_total\{method="CreateVolume",code="INVALID_ARGUMENT"\} \d+/);
    assert.match(text, /poolcsi_rpc_duration_seconds_bucket\{le="0.005",method="Probe"\}/);
    assert.equal((await fetch(`http://${h.metricsAddress}/healthz`)).status, 200);
  } finally {
    await h.stop();
  }
});
