// JSON state beside the data (dir and nfs pools): atomic writes, and the temp copies a killed
// write leaves are removed when the next read-modify-write of the same file starts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readState, readStateForUpdate, writeState } from '../../src/backends/statefile.js';

test('readStateForUpdate removes killed writes of that file only, and reads the last complete version', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'statefile-'));
  try {
    const file = join(dir, 'v1.json');
    await writeState(file, { n: 1 });
    await writeFile(`${file}.0badc0de.tmp`, '{"n":');
    await writeFile(join(dir, 'v10.json.0badc0de.tmp'), '{"n":');
    await writeFile(join(dir, 'v1.json.notes'), 'kept');
    assert.deepEqual(await readState(file), { n: 1 });
    assert.equal((await readdir(dir)).length, 4, 'a plain read removes nothing');
    assert.deepEqual(await readStateForUpdate(file), { n: 1 });
    assert.deepEqual((await readdir(dir)).sort(), ['v1.json', 'v1.json.notes', 'v10.json.0badc0de.tmp']);
    assert.equal(await readStateForUpdate(join(dir, 'absent.json')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
