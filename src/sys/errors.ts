// A failure reading the kernel's view (/proc, sysfs, device nodes): the thing looked for is not
// there or not usable now. Callers above say what it means for their request.
export class SysError extends Error {
  readonly kind = 'unavailable' as const;
  constructor(message: string, options?: { cause?: unknown }) { super(message, options); this.name = 'SysError'; }
}
