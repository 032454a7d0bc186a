// The CSI services' error vocabulary; the mapping itself lives in rpc/ (the agent shares it).
export { aborted, codeName, CsiError, failedPrecondition, invalidArgument, notFound, toStatus, unavailable } from '../rpc/status.js';
