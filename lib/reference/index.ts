// seqloss/reference: the pure-TypeScript float64 implementation of every operation — the oracle that the native
// CPU and CUDA backends are tested against, and the 'js' backend.
export { ctcLoss } from './ctc.js';
export { dctcLoss } from './dctc.js';
export { ctcAlign } from './align.js';
export { aceLoss } from './ace.js';
export { ctcGreedyDecode, aceDecode, aceCount } from './decode.js';
