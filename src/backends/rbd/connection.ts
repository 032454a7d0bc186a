// What every `rbd`/`ceph` run and the librbd helper share about talking to a cluster: its
// request timeouts, derived from the pool's timeoutSeconds, and the environment.

/** Monitor and OSD request timeouts (--rados-mon-op-timeout, --rados-osd-op-timeout). */
export const monOpSeconds = (t: number): number => Math.max(30, 3 * t);
export const osdOpSeconds = (t: number): number => Math.max(60, 6 * t);

/** The environment for ceph tools: no CEPH_ARGS from outside, times in UTC (see report.ts). */
export const CEPH_ENV: Record<string, string> = { CEPH_ARGS: '', TZ: 'UTC', LC_ALL: 'C' };
