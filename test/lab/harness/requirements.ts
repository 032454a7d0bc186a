/** A program the lab needs, and the Debian package that has it. */
export interface Requirement {
  program: string;
  pkg: string;
}

export const req = (pkg: string, ...programs: string[]): Requirement[] => programs.map((program) => ({ program, pkg }));

/** Needed by every lab run. */
export const BASE_REQUIREMENTS: Requirement[] = [
  ...req('user-mode-linux', 'linux.uml'),
  // Builds the ptrace shim UML runs with (umlshim.ts).
  ...req('gcc', 'cc'),
  ...req('iproute2', 'ip'),
  ...req('kmod', 'modprobe'),
  ...req('mount', 'losetup', 'mount'),
  ...req('netcat-openbsd', 'nc'),
];
