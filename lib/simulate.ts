// 'seqloss/simulate' as package.json's exports name it today (dist/simulate.js): the simulator lives in
// lib/simulate/; this file only forwards to its entry.
export * from './simulate/index.js';
