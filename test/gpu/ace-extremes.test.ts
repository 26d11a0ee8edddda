// ACE and aceCount at the extremes on backend 'cuda' (the SIMT host in 'cuda-emulated', a GPU in 'cuda-gpu'): the
// cases of test/ace-extremes.cases.ts, which 'unit' runs on js and cpu.
import { expect, it } from 'vitest';
import { backends } from '../../lib/index.js';
import { aceExtremes } from '../ace-extremes.cases.js';

const info = backends();
it('a usable CUDA device is there', () => expect(info.cuda.available, info.cuda.reason).toBe(true));
if (info.cuda.available) aceExtremes('cuda');
