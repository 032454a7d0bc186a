// The CSI services' error vocabulary; the mapping itself lives in rpc/ (the agent shares it).
export { aborted, bounded, codeName, firstFew, MAX_MESSAGE, quote, CsiError, failedPrecondition, invalidArgument, notFound, toStatus, unavailable } from '../rpc/status.js';
