// Every argument error of the public API: the class (TypeError for a wrong type or a missing option, RangeError
// for a bad value) and a message that names the function, the argument, what was expected and what came.
import { describe, expect, it } from 'vitest';
import {
  aceCount,
  aceDecode,
  aceLoss,
  aceLossAsync,
  backends,
  ctcGreedyDecode,
  ctcLoss,
  ctcLossAsync,
} from '../lib/index.js';

const ctcBase = () => ({
  batch: 2,
  time: 4,
  classes: 3,
  targets: new Int32Array([1, 2, 1]),
  targetLengths: new Int32Array([2, 1]),
});
const x = () => new Float32Array(2 * 4 * 3);

type Case = [string, Record<string, unknown>, typeof TypeError | typeof RangeError, RegExp];

const ctcCases: Case[] = [
  ['options not an object', { __replace: 42 }, TypeError, /ctcLoss: options must be an object, got 42/],
  ['unknown option', { inputLength: 3 }, TypeError, /unknown option 'inputLength'/],
  ['batch missing', { batch: undefined }, TypeError, /batch must be an integer, got undefined/],
  ['batch a string', { batch: '2' }, TypeError, /batch must be an integer, got "2"/],
  ['batch zero', { batch: 0 }, RangeError, /batch must be an integer >= 1, got 0/],
  ['batch fractional', { batch: 1.5 }, RangeError, /batch must be an integer >= 1, got 1.5/],
  ['time NaN', { time: NaN }, RangeError, /time must be an integer >= 1, got NaN/],
  ['classes negative', { classes: -3 }, RangeError, /classes must be an integer >= 1, got -3/],
  ['sizes overflow', { batch: 2 ** 31 - 1, time: 2 ** 31 - 1, classes: 2 ** 31 - 1 }, RangeError, /batch·time·classes must be a safe integer element count/],
  ['logits wrong length', { time: 5 }, RangeError, /logits.length must be batch·time·classes = 2·5·3 = 30, got 24/],
  ['layout unknown', { layout: 'NCT' }, RangeError, /layout must be 'NTC' \| 'TNC', got "NCT"/],
  ['layout not a string', { layout: 1 }, TypeError, /layout must be 'NTC' \| 'TNC', got 1/],
  ['blank out of range', { blank: 3 }, RangeError, /blank must be an integer in \[0, 2\], got 3/],
  ['reduction unknown', { reduction: 'avg' }, RangeError, /reduction must be 'none' \| 'sum' \| 'mean', got "avg"/],
  ['input unknown', { input: 'probs' }, RangeError, /input must be 'logits' \| 'logProbs', got "probs"/],
  ['zeroInfinity not boolean', { zeroInfinity: 1 }, TypeError, /zeroInfinity must be a boolean, got 1/],
  ['grad not boolean', { grad: 'yes' }, TypeError, /grad must be a boolean, got "yes"/],
  ['posterior not boolean', { posterior: null }, TypeError, /posterior must be a boolean, got null/],
  ['backend unknown', { backend: 'gpu' }, RangeError, /backend must be 'auto' \| 'cpu' \| 'js' \| 'cuda', got "gpu"/],
  ['threads negative', { threads: -1 }, RangeError, /threads must be an integer in \[0, 4096\], got -1/],
  ['device fractional', { device: 0.5 }, RangeError, /device must be an integer in \[0, 1024\], got 0.5/],
  ['targets missing', { targets: undefined }, TypeError, /targets must be an Int32Array \(with targetLengths\) or an array of label arrays, got undefined/],
  ['targets Float32Array', { targets: new Float32Array(3) }, TypeError, /targets must be an Int32Array .* got Float32Array\(3\)/],
  ['targetLengths missing', { targetLengths: undefined }, TypeError, /targetLengths must be an Int32Array or an array of integers when targets is an Int32Array, got undefined/],
  ['targetLengths wrong count', { targetLengths: new Int32Array([3]) }, RangeError, /targetLengths.length must be 2 \(one per sequence\), got 1/],
  ['targetLengths negative', { targetLengths: [-1, 1] }, RangeError, /targetLengths\[0\] must be an integer >= 0, got -1/],
  ['targetLengths too long', { targetLengths: [2, 2] }, RangeError, /the sum of targetLengths must be at most targets.length = 3, got 4/],
  ['label is the blank', { targets: new Int32Array([1, 0, 1]) }, RangeError, /targets\[1\] must be a class in \[0, 3\) other than the blank 0, got 0/],
  ['label out of range', { targets: new Int32Array([1, 2, 3]), targetLengths: [2, 1] }, RangeError, /targets\[2\] must be a class in \[0, 3\) other than the blank 0, got 3/],
  ['nested targets wrong count', { targets: [[1]], targetLengths: undefined }, RangeError, /targets.length must be 2 \(one label array per sequence\), got 1/],
  ['nested label not a number', { targets: [[1], ['2']], targetLengths: undefined }, TypeError, /targets\[1\]\[0\] must be an integer, got "2"/],
  ['nested label fractional', { targets: [[1], [1.5]], targetLengths: undefined }, RangeError, /targets\[1\]\[0\] must be a class in \[0, 3\) other than the blank 0, got 1.5/],
  ['nested with targetLengths', { targets: [[1], [2]] }, TypeError, /targetLengths must be absent when targets is an array of label arrays/],
  ['nested entry not an array', { targets: [[1], 2], targetLengths: undefined }, TypeError, /targets\[1\] must be an array of integers, got 2/],
  ['inputLengths wrong count', { inputLengths: [4] }, RangeError, /inputLengths.length must be 2 \(one per sequence\), got 1/],
  ['inputLengths over T', { inputLengths: [4, 5] }, RangeError, /inputLengths\[1\] must be an integer in \[0, 4\], got 5/],
  ['inputLengths not numbers', { inputLengths: 'abc' }, TypeError, /inputLengths must be an Int32Array or an array of integers, got "abc"/],
];

function ctcOptions(patch: Record<string, unknown>): unknown {
  if ('__replace' in patch) return patch.__replace;
  return { ...ctcBase(), ...patch };
}

describe('ctcLoss / ctcLossAsync argument errors', () => {
  it.each(ctcCases)('%s', async (_, patch, cls, message) => {
    const call = () => ctcLoss(x(), ctcOptions(patch) as never);
    expect(call).toThrow(cls);
    expect(call).toThrow(message);
    // The async form rejects with the same error (it never throws synchronously).
    const p = ctcLossAsync(x(), ctcOptions(patch) as never);
    await expect(p).rejects.toThrow(cls);
    await expect(p).rejects.toThrow(new RegExp(message.source.replace('ctcLoss:', 'ctcLossAsync:')));
  });

  it('logits of the wrong type', () => {
    expect(() => ctcLoss(new Float64Array(24) as never, ctcBase())).toThrow(/ctcLoss: logits must be a Float32Array, got Float64Array\(24\)/);
    expect(() => ctcLoss([0, 1] as never, ctcBase())).toThrow(TypeError);
    expect(() => ctcLoss(x(), { ...ctcBase(), input: 'logProbs', time: 5 })).toThrow(/logProbs.length must be/);
  });

  it('an unavailable backend is an Error that says why', () => {
    if (backends().cpu) {
      // The CUDA kernels are not in this build: the C ABI answers SEQLOSS_ERROR_UNSUPPORTED.
      expect(() => ctcLoss(x(), { ...ctcBase(), backend: 'cuda' })).toThrow(/CUDA/);
    } else {
      expect(() => ctcLoss(x(), { ...ctcBase(), backend: 'cpu' })).toThrow(/backend 'cpu' is unavailable/);
    }
  });
});

const aceBase = () => ({ batch: 2, time: 4, classes: 3, counts: new Float32Array([0, 1, 1, 0, 2, 0]) });

const aceCases: Case[] = [
  ['neither time nor height', { time: undefined }, TypeError, /aceLoss: time must be an integer \(or give height and width for a 2D input\), got undefined/],
  ['time and height', { height: 2, width: 2 }, TypeError, /time must be absent when height and width are given \(2D input\), got 4/],
  ['height without width', { time: undefined, height: 2 }, TypeError, /width must be an integer, got undefined/],
  ['2D with a 1D layout', { time: undefined, height: 2, width: 2, layout: 'TNC' }, RangeError, /layout must be 'NHWC' for a 2D input/],
  ['2D with inputLengths', { time: undefined, height: 2, width: 2, inputLengths: [4, 4] }, TypeError, /inputLengths must be absent for a 2D input/],
  ['input length zero', { inputLengths: [0, 4] }, RangeError, /inputLengths\[0\] must be an integer in \[1, 4\], got 0/],
  ['no supervision', { counts: undefined }, TypeError, /counts must be a Float32Array of batch·classes counts \(or give targets\), got undefined/],
  ['counts and targets', { targets: [[1], [2]] }, TypeError, /targets must be absent when counts are given/],
  ['counts wrong length', { counts: new Float32Array(5) }, RangeError, /counts.length must be batch·classes = 6, got 5/],
  ['counts negative', { counts: [0, -1, 0, 0, 0, 0] }, RangeError, /counts\[1\] must be a finite count >= 0, got -1/],
  ['counts NaN', { counts: [0, 0, NaN, 0, 0, 0] }, RangeError, /counts\[2\] must be a finite count >= 0, got NaN/],
  ['counts not numbers', { counts: 'many' }, TypeError, /counts must be a Float32Array or an array of numbers/],
  ['counts larger than T', { counts: [0, 3, 2, 0, 0, 0] }, RangeError, /the counts of sequence 0 must be at most its 4 frames in total \(blank excluded\), got 5/],
  ['targets longer than T', { counts: undefined, targets: [[1, 1, 2, 2, 1], []] }, RangeError, /the counts of sequence 0 must be at most its 4 frames/],
  ['input unknown', { input: 'logProbs' }, RangeError, /input must be 'logits' \| 'probs', got "logProbs"/],
  ['variant unknown', { variant: 'l2' }, RangeError, /variant must be 'ce' \| 'regression', got "l2"/],
  ['eps negative', { eps: -1e-10 }, RangeError, /eps must be a finite number >= 0, got -1e-10/],
  ['eps a string', { eps: '1e-10' }, TypeError, /eps must be a number, got "1e-10"/],
  ['reduction unknown', { reduction: 'batchmean' }, RangeError, /reduction must be 'none' \| 'sum' \| 'mean'/],
  ['unknown option', { zeroInfinity: true }, TypeError, /unknown option 'zeroInfinity'/],
];

describe('aceLoss / aceLossAsync argument errors', () => {
  it.each(aceCases)('%s', async (_, patch, cls, message) => {
    const options = { ...aceBase(), ...patch };
    const call = () => aceLoss(x(), options as never);
    expect(call).toThrow(cls);
    expect(call).toThrow(message);
    await expect(aceLossAsync(x(), options as never)).rejects.toThrow(cls);
  });

  it('input of the wrong type', () => {
    expect(() => aceLoss(new Int32Array(24) as never, aceBase())).toThrow(/aceLoss: logits must be a Float32Array, got Int32Array\(24\)/);
    expect(() => aceLoss(new Int32Array(24) as never, { ...aceBase(), input: 'probs' })).toThrow(/probs must be a Float32Array/);
  });
});

describe('decoder argument errors', () => {
  it('ctcGreedyDecode', () => {
    const o = { batch: 2, time: 4, classes: 3 };
    expect(() => ctcGreedyDecode(x(), { ...o, time: 3 })).toThrow(/ctcGreedyDecode: logits.length must be batch·time·classes = 2·3·3 = 18, got 24/);
    expect(() => ctcGreedyDecode(x(), { ...o, blank: -1 })).toThrow(RangeError);
    expect(() => ctcGreedyDecode(x(), { ...o, targets: [[1]] } as never)).toThrow(/unknown option 'targets'/);
    expect(() => ctcGreedyDecode(x(), { ...o, inputLengths: [1, 9] })).toThrow(/inputLengths\[1\] must be an integer in \[0, 4\], got 9/);
    expect(() => ctcGreedyDecode(null as never, o)).toThrow(/logits must be a Float32Array, got null/);
  });

  it('aceDecode and aceCount', () => {
    const o = { batch: 2, time: 4, classes: 3 };
    expect(() => aceDecode(x(), { ...o, collapseRepeats: 'no' } as never)).toThrow(/aceDecode: collapseRepeats must be a boolean, got "no"/);
    expect(() => aceDecode(x(), { batch: 2, classes: 3, height: 2, width: 3 })).toThrow(/logits.length must be batch·time·classes = 2·6·3 = 36, got 24/);
    expect(() => aceCount(x(), { ...o, collapseRepeats: true } as never)).toThrow(/aceCount: unknown option 'collapseRepeats'/);
    expect(() => aceCount(x(), { ...o, counts: [] } as never)).toThrow(/unknown option 'counts'/);
    expect(() => aceCount(x(), { ...o, input: 'probs', time: 2 })).toThrow(/aceCount: probs.length/);
  });
});
