// The driver's name and version, as the Identity service and the agent report them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { protoDir } from './proto.js';

export const DRIVER_NAME = 'poolcsi.io';

export const VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(join(dirname(protoDir()), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
})();
