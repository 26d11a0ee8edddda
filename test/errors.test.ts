// Every argument error of the public API: the class (TypeError for a wrong type or a missing option, RangeError
// for a bad value) and a message that names the function, the argument, what was expected and what came.
import { describe, expect, it } from 'vitest';
import {
  aceCount,
  aceDecode,
  aceLoss,
  aceLossAsync,
  backends,
  ctcAlign,
  ctcAlignAsync,
  ctcGreedyDecode,
  ctcLoss,
  ctcLossAsync,
  dctcLoss,
  dctcLossAsync,
} from '../lib/index.js';
import { loadNative, OP, type NativeBinding } from '../lib/native.js';

// The backend every call names: the default ('auto') in the unit project, 'cuda' in the CUDA projects (vitest.config.ts),
// so that the same errors are checked on the CUDA backend too; a patch that sets `backend` overrides it.
const onCuda = process.env.SEQLOSS_TEST_BACKENDS === 'cuda';
const withBackend = onCuda ? { backend: 'cuda' as const } : {};

const ctcBase = () => ({
  ...withBackend,
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
  [
    'sizes overflow',
    { batch: 2 ** 31 - 1, time: 2 ** 31 - 1, classes: 2 ** 31 - 1 },
    RangeError,
    /batch·time·classes must be a safe integer element count/,
  ],
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
  [
    'targets missing',
    { targets: undefined },
    TypeError,
    /targets must be an Int32Array \(with targetLengths\) or an array of label arrays, got undefined/,
  ],
  [
    'targets Float32Array',
    { targets: new Float32Array(3) },
    TypeError,
    /targets must be an Int32Array .* got Float32Array\(3\)/,
  ],
  [
    'targetLengths missing',
    { targetLengths: undefined },
    TypeError,
    /targetLengths must be an Int32Array or an array of integers when targets is an Int32Array, got undefined/,
  ],
  [
    'targetLengths wrong count',
    { targetLengths: new Int32Array([3]) },
    RangeError,
    /targetLengths.length must be 2 \(one per sequence\), got 1/,
  ],
  [
    'targetLengths negative',
    { targetLengths: [-1, 1] },
    RangeError,
    /targetLengths\[0\] must be an integer >= 0, got -1/,
  ],
  [
    'targetLengths too long',
    { targetLengths: [2, 2] },
    RangeError,
    /the sum of targetLengths must be at most targets.length = 3, got 4/,
  ],
  [
    'label is the blank',
    { targets: new Int32Array([1, 0, 1]) },
    RangeError,
    /targets\[1\] must be a class in \[0, 3\) other than the blank 0, got 0/,
  ],
  [
    'label out of range',
    { targets: new Int32Array([1, 2, 3]), targetLengths: [2, 1] },
    RangeError,
    /targets\[2\] must be a class in \[0, 3\) other than the blank 0, got 3/,
  ],
  [
    'nested targets wrong count',
    { targets: [[1]], targetLengths: undefined },
    RangeError,
    /targets.length must be 2 \(one label array per sequence\), got 1/,
  ],
  [
    'nested label not a number',
    { targets: [[1], ['2']], targetLengths: undefined },
    TypeError,
    /targets\[1\]\[0\] must be an integer, got "2"/,
  ],
  [
    'nested label fractional',
    { targets: [[1], [1.5]], targetLengths: undefined },
    RangeError,
    /targets\[1\]\[0\] must be a class in \[0, 3\) other than the blank 0, got 1.5/,
  ],
  [
    'nested with targetLengths',
    { targets: [[1], [2]] },
    TypeError,
    /targetLengths must be absent when targets is an array of label arrays/,
  ],
  [
    'nested entry not an array',
    { targets: [[1], 2], targetLengths: undefined },
    TypeError,
    /targets\[1\] must be an array of integers, got 2/,
  ],
  [
    'inputLengths wrong count',
    { inputLengths: [4] },
    RangeError,
    /inputLengths.length must be 2 \(one per sequence\), got 1/,
  ],
  [
    'inputLengths over T',
    { inputLengths: [4, 5] },
    RangeError,
    /inputLengths\[1\] must be an integer in \[0, 4\], got 5/,
  ],
  [
    'inputLengths not numbers',
    { inputLengths: 'abc' },
    TypeError,
    /inputLengths must be an Int32Array or an array of integers, got "abc"/,
  ],
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
    expect(() => ctcLoss(new Float64Array(24) as never, ctcBase())).toThrow(
      /ctcLoss: logits must be a Float32Array, got Float64Array\(24\)/,
    );
    expect(() => ctcLoss([0, 1] as never, ctcBase())).toThrow(TypeError);
    expect(() => ctcLoss(x(), { ...ctcBase(), input: 'logProbs', time: 5 })).toThrow(/logProbs.length must be/);
  });

  it('an unavailable backend is an Error that says why', () => {
    const info = backends();
    if (info.cuda.available) {
      expect(ctcLoss(x(), { ...ctcBase(), backend: 'cuda' }).backend).toBe('cuda');
    } else if (info.cpu) {
      // No CUDA in this build, or no usable device: the C ABI answers UNSUPPORTED or DEVICE, saying why.
      expect(() => ctcLoss(x(), { ...ctcBase(), backend: 'cuda' })).toThrow(/CUDA/);
    } else {
      expect(() => ctcLoss(x(), { ...ctcBase(), backend: 'cpu' })).toThrow(/backend 'cpu' is unavailable/);
    }
  });
});

const aceBase = () => ({ ...withBackend, batch: 2, time: 4, classes: 3, counts: new Float32Array([0, 1, 1, 0, 2, 0]) });

const aceCases: Case[] = [
  [
    'neither time nor height',
    { time: undefined },
    TypeError,
    /aceLoss: time must be an integer \(or give height and width for a 2D input\), got undefined/,
  ],
  [
    'time and height',
    { height: 2, width: 2 },
    TypeError,
    /time must be absent when height and width are given \(2D input\), got 4/,
  ],
  ['height without width', { time: undefined, height: 2 }, TypeError, /width must be an integer, got undefined/],
  [
    '2D with a 1D layout',
    { time: undefined, height: 2, width: 2, layout: 'TNC' },
    RangeError,
    /layout must be 'NHWC' for a 2D input/,
  ],
  [
    '2D with inputLengths',
    { time: undefined, height: 2, width: 2, inputLengths: [4, 4] },
    TypeError,
    /inputLengths must be absent for a 2D input/,
  ],
  [
    'input length zero',
    { inputLengths: [0, 4] },
    RangeError,
    /inputLengths\[0\] must be an integer in \[1, 4\], got 0/,
  ],
  [
    'no supervision',
    { counts: undefined },
    TypeError,
    /counts must be a Float32Array of batch·classes counts \(or give targets\), got undefined/,
  ],
  ['counts and targets', { targets: [[1], [2]] }, TypeError, /targets must be absent when counts are given/],
  [
    'counts wrong length',
    { counts: new Float32Array(5) },
    RangeError,
    /counts.length must be batch·classes = 6, got 5/,
  ],
  ['counts negative', { counts: [0, -1, 0, 0, 0, 0] }, RangeError, /counts\[1\] must be a finite count >= 0, got -1/],
  ['counts NaN', { counts: [0, 0, NaN, 0, 0, 0] }, RangeError, /counts\[2\] must be a finite count >= 0, got NaN/],
  ['counts not numbers', { counts: 'many' }, TypeError, /counts must be a Float32Array or an array of numbers/],
  [
    'counts larger than T',
    { counts: [0, 3, 2, 0, 0, 0] },
    RangeError,
    /the counts of sequence 0 must be at most its 4 frames in total \(blank excluded\), got 5/,
  ],
  [
    'targets longer than T',
    { counts: undefined, targets: [[1, 1, 2, 2, 1], []] },
    RangeError,
    /the counts of sequence 0 must be at most its 4 frames/,
  ],
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
    expect(() => aceLoss(new Int32Array(24) as never, aceBase())).toThrow(
      /aceLoss: logits must be a Float32Array, got Int32Array\(24\)/,
    );
    expect(() => aceLoss(new Int32Array(24) as never, { ...aceBase(), input: 'probs' })).toThrow(
      /probs must be a Float32Array/,
    );
  });
});

describe('decoder argument errors', () => {
  it('ctcGreedyDecode', () => {
    const o = { ...withBackend, batch: 2, time: 4, classes: 3 };
    expect(() => ctcGreedyDecode(x(), { ...o, time: 3 })).toThrow(
      /ctcGreedyDecode: logits.length must be batch·time·classes = 2·3·3 = 18, got 24/,
    );
    expect(() => ctcGreedyDecode(x(), { ...o, blank: -1 })).toThrow(RangeError);
    expect(() => ctcGreedyDecode(x(), { ...o, targets: [[1]] } as never)).toThrow(/unknown option 'targets'/);
    expect(() => ctcGreedyDecode(x(), { ...o, inputLengths: [1, 9] })).toThrow(
      /inputLengths\[1\] must be an integer in \[0, 4\], got 9/,
    );
    expect(() => ctcGreedyDecode(null as never, o)).toThrow(/logits must be a Float32Array, got null/);
  });

  it('aceDecode and aceCount', () => {
    const o = { ...withBackend, batch: 2, time: 4, classes: 3 };
    expect(() => aceDecode(x(), { ...o, collapseRepeats: 'no' } as never)).toThrow(
      /aceDecode: collapseRepeats must be a boolean, got "no"/,
    );
    expect(() => aceDecode(x(), { ...withBackend, batch: 2, classes: 3, height: 2, width: 3 })).toThrow(
      /logits.length must be batch·time·classes = 2·6·3 = 36, got 24/,
    );
    expect(() => aceCount(x(), { ...o, collapseRepeats: true } as never)).toThrow(
      /aceCount: unknown option 'collapseRepeats'/,
    );
    expect(() => aceCount(x(), { ...o, counts: [] } as never)).toThrow(/unknown option 'counts'/);
    expect(() => aceCount(x(), { ...o, input: 'probs', time: 2 })).toThrow(/aceCount: probs.length/);
  });
});

const fitCases: Case[] = [
  ['fit not an object', { fit: 0.5 }, TypeError, /ctcLoss: fit must be an object, got 0.5/],
  ['fit an array', { fit: [0.5] }, TypeError, /ctcLoss: fit must be an object, got Array\(1\)/],
  ['fit null', { fit: null }, TypeError, /ctcLoss: fit must be an object, got null/],
  [
    'fit unknown key',
    { fit: { beta: 1 } },
    TypeError,
    /ctcLoss: unknown option 'fit.beta' \(known: alpha, alphaScope, gamma\)/,
  ],
  ['fit.alpha a string', { fit: { alpha: '0.5' } }, TypeError, /ctcLoss: fit.alpha must be a number, got "0.5"/],
  ['fit.alpha 0', { fit: { alpha: 0 } }, RangeError, /ctcLoss: fit.alpha must be a number in \(0, 1\), got 0/],
  ['fit.alpha 1', { fit: { alpha: 1 } }, RangeError, /fit.alpha must be a number in \(0, 1\), got 1/],
  ['fit.alpha negative', { fit: { alpha: -0.2 } }, RangeError, /fit.alpha must be a number in \(0, 1\), got -0.2/],
  ['fit.alpha NaN', { fit: { alpha: NaN } }, RangeError, /fit.alpha must be a number in \(0, 1\), got NaN/],
  [
    'fit.alphaScope unknown',
    { fit: { alpha: 0.5, alphaScope: 'global' } },
    RangeError,
    /fit.alphaScope must be 'batch' \| 'sequence', got "global"/,
  ],
  [
    'fit.alphaScope not a string',
    { fit: { alpha: 0.5, alphaScope: 1 } },
    TypeError,
    /fit.alphaScope must be 'batch' \| 'sequence', got 1/,
  ],
  ['fit.gamma negative', { fit: { gamma: -1 } }, RangeError, /ctcLoss: fit.gamma must be a finite number >= 0, got -1/],
  [
    'fit.gamma Infinity',
    { fit: { gamma: Infinity } },
    RangeError,
    /fit.gamma must be a finite number >= 0, got Infinity/,
  ],
  ['fit.gamma NaN', { fit: { gamma: NaN } }, RangeError, /fit.gamma must be a finite number >= 0, got NaN/],
  ['fit.gamma a string', { fit: { gamma: '1' } }, TypeError, /fit.gamma must be a number, got "1"/],
  [
    'fit with logProbs',
    { input: 'logProbs', fit: { gamma: 1 } },
    RangeError,
    /ctcLoss: input must be 'logits' when fit is given, got "logProbs"/,
  ],
  ['fit {} with logProbs', { input: 'logProbs', fit: {} }, RangeError, /input must be 'logits' when fit is given/],
];

describe('ctcLoss fit argument errors', () => {
  it.each(fitCases)('%s', async (_, patch, cls, message) => {
    const call = () => ctcLoss(x(), ctcOptions(patch) as never);
    expect(call).toThrow(cls);
    expect(call).toThrow(message);
    const p = ctcLossAsync(x(), ctcOptions(patch) as never);
    await expect(p).rejects.toThrow(cls);
    await expect(p).rejects.toThrow(new RegExp(message.source.replace('ctcLoss:', 'ctcLossAsync:')));
  });
});

const dctcCases: Case[] = [
  ['options not an object', { __replace: 'x' }, TypeError, /dctcLoss: options must be an object, got "x"/],
  ['unknown option posterior', { posterior: true }, TypeError, /dctcLoss: unknown option 'posterior'/],
  ['unknown option fit', { fit: {} }, TypeError, /dctcLoss: unknown option 'fit'/],
  ['input logProbs', { input: 'logProbs' }, RangeError, /dctcLoss: input must be 'logits', got "logProbs"/],
  ['input not a string', { input: 0 }, TypeError, /dctcLoss: input must be 'logits', got 0/],
  ['lambda negative', { lambda: -0.01 }, RangeError, /dctcLoss: lambda must be a finite number >= 0, got -0.01/],
  ['lambda Infinity', { lambda: Infinity }, RangeError, /lambda must be a finite number >= 0, got Infinity/],
  ['lambda NaN', { lambda: NaN }, RangeError, /lambda must be a finite number >= 0, got NaN/],
  ['lambda a string', { lambda: '0.1' }, TypeError, /dctcLoss: lambda must be a number, got "0.1"/],
  ['ctcWeight negative', { ctcWeight: -1 }, RangeError, /dctcLoss: ctcWeight must be a finite number >= 0, got -1/],
  ['ctcWeight null', { ctcWeight: null }, TypeError, /ctcWeight must be a number, got null/],
  [
    'alignment unknown',
    { alignment: 'best' },
    RangeError,
    /dctcLoss: alignment must be 'ratio' \| 'posterior' \| 'viterbi', got "best"/,
  ],
  ['alignment a number', { alignment: 2 }, TypeError, /alignment must be 'ratio' \| 'posterior' \| 'viterbi', got 2/],
  ['margin not an object', { margin: 0.5 }, TypeError, /dctcLoss: margin must be an object, got 0.5/],
  ['margin an array', { margin: [1, 0] }, TypeError, /dctcLoss: margin must be an object, got Array\(2\)/],
  [
    'margin unknown key',
    { margin: { scale: 2 } },
    TypeError,
    /dctcLoss: unknown option 'margin.scale' \(known: s, m\)/,
  ],
  ['margin.s zero', { margin: { s: 0 } }, RangeError, /dctcLoss: margin.s must be a number in \(0, 1000000\], got 0/],
  ['margin.s negative', { margin: { s: -1 } }, RangeError, /margin.s must be a number in \(0, 1000000\], got -1/],
  [
    'margin.s Infinity',
    { margin: { s: Infinity } },
    RangeError,
    /margin.s must be a number in \(0, 1000000\], got Infinity/,
  ],
  [
    'margin.s too large',
    { margin: { s: 1.5e6 } },
    RangeError,
    /margin.s must be a number in \(0, 1000000\], got 1500000/,
  ],
  ['margin.s a string', { margin: { s: '2' } }, TypeError, /margin.s must be a number, got "2"/],
  [
    'margin.m negative',
    { margin: { m: -0.1 } },
    RangeError,
    /dctcLoss: margin.m must be a number in \[0, 1e\+30\], got -0.1/,
  ],
  ['margin.m NaN', { margin: { s: 1, m: NaN } }, RangeError, /margin.m must be a number in \[0, 1e\+30\], got NaN/],
  ['margin.m too large', { margin: { m: 2e30 } }, RangeError, /margin.m must be a number in \[0, 1e\+30\], got 2e\+30/],
  ['margin.m a boolean', { margin: { m: true } }, TypeError, /margin.m must be a number, got boolean true/],
  [
    'zeroInfinity not boolean',
    { zeroInfinity: 'yes' },
    TypeError,
    /dctcLoss: zeroInfinity must be a boolean, got "yes"/,
  ],
  ['grad not boolean', { grad: 1 }, TypeError, /dctcLoss: grad must be a boolean, got 1/],
  [
    'reduction unknown',
    { reduction: 'avg' },
    RangeError,
    /dctcLoss: reduction must be 'none' \| 'sum' \| 'mean', got "avg"/,
  ],
  [
    'out.posterior',
    { out: { posterior: new Float32Array(24) } },
    TypeError,
    /dctcLoss: unknown output 'out.posterior' \(known: grad\)/,
  ],
  [
    'out.grad wrong length',
    { out: { grad: new Float32Array(23) } },
    RangeError,
    /dctcLoss: out.grad.length must be batch·time·classes = 24, got 23/,
  ],
  [
    'out.grad wrong type',
    { out: { grad: new Float64Array(24) } },
    TypeError,
    /dctcLoss: out.grad must be a Float32Array, got Float64Array\(24\)/,
  ],
  ['batch zero', { batch: 0 }, RangeError, /dctcLoss: batch must be an integer >= 1, got 0/],
  [
    'logits wrong length',
    { time: 5 },
    RangeError,
    /dctcLoss: logits.length must be batch·time·classes = 2·5·3 = 30, got 24/,
  ],
  [
    'targets missing',
    { targets: undefined },
    TypeError,
    /dctcLoss: targets must be an Int32Array \(with targetLengths\) or an array of label arrays, got undefined/,
  ],
  [
    'label is the blank',
    { targets: new Int32Array([1, 0, 1]) },
    RangeError,
    /dctcLoss: targets\[1\] must be a class in \[0, 3\) other than the blank 0, got 0/,
  ],
  [
    'inputLengths over T',
    { inputLengths: [4, 5] },
    RangeError,
    /dctcLoss: inputLengths\[1\] must be an integer in \[0, 4\], got 5/,
  ],
  ['layout unknown', { layout: 'NCT' }, RangeError, /dctcLoss: layout must be 'NTC' \| 'TNC', got "NCT"/],
  [
    'backend unknown',
    { backend: 'gpu' },
    RangeError,
    /dctcLoss: backend must be 'auto' \| 'cpu' \| 'js' \| 'cuda', got "gpu"/,
  ],
  ['threads negative', { threads: -1 }, RangeError, /dctcLoss: threads must be an integer in \[0, 4096\], got -1/],
];

describe('dctcLoss / dctcLossAsync argument errors', () => {
  it.each(dctcCases)('%s', async (_, patch, cls, message) => {
    const call = () => dctcLoss(x(), ctcOptions(patch) as never);
    expect(call).toThrow(cls);
    expect(call).toThrow(message);
    const p = dctcLossAsync(x(), ctcOptions(patch) as never);
    await expect(p).rejects.toThrow(cls);
    await expect(p).rejects.toThrow(new RegExp(message.source.replace('dctcLoss:', 'dctcLossAsync:')));
  });

  it('logits of the wrong type', () => {
    expect(() => dctcLoss(new Float64Array(24) as never, ctcBase())).toThrow(
      /dctcLoss: logits must be a Float32Array, got Float64Array\(24\)/,
    );
  });
});

const alignCases: Case[] = [
  ['options not an object', { __replace: null }, TypeError, /ctcAlign: options must be an object, got null/],
  ['unknown option reduction', { reduction: 'sum' }, TypeError, /ctcAlign: unknown option 'reduction'/],
  ['unknown option grad', { grad: false }, TypeError, /ctcAlign: unknown option 'grad'/],
  ['input probs', { input: 'probs' }, RangeError, /ctcAlign: input must be 'logits' \| 'logProbs', got "probs"/],
  [
    'logProbs wrong length',
    { input: 'logProbs', time: 5 },
    RangeError,
    /ctcAlign: logProbs.length must be batch·time·classes = 2·5·3 = 30, got 24/,
  ],
  ['time missing', { time: undefined }, TypeError, /ctcAlign: time must be an integer, got undefined/],
  ['classes negative', { classes: -3 }, RangeError, /ctcAlign: classes must be an integer >= 1, got -3/],
  ['blank out of range', { blank: 3 }, RangeError, /ctcAlign: blank must be an integer in \[0, 2\], got 3/],
  ['layout not a string', { layout: 1 }, TypeError, /ctcAlign: layout must be 'NTC' \| 'TNC', got 1/],
  [
    'targets missing',
    { targets: undefined },
    TypeError,
    /ctcAlign: targets must be an Int32Array \(with targetLengths\) or an array of label arrays, got undefined/,
  ],
  [
    'targetLengths wrong count',
    { targetLengths: new Int32Array([3]) },
    RangeError,
    /ctcAlign: targetLengths.length must be 2 \(one per sequence\), got 1/,
  ],
  [
    'label out of range',
    { targets: new Int32Array([1, 2, 3]), targetLengths: [2, 1] },
    RangeError,
    /ctcAlign: targets\[2\] must be a class in \[0, 3\) other than the blank 0, got 3/,
  ],
  [
    'inputLengths over T',
    { inputLengths: [4, 5] },
    RangeError,
    /ctcAlign: inputLengths\[1\] must be an integer in \[0, 4\], got 5/,
  ],
  [
    'backend unknown',
    { backend: 'gpu' },
    RangeError,
    /ctcAlign: backend must be 'auto' \| 'cpu' \| 'js' \| 'cuda', got "gpu"/,
  ],
  ['device fractional', { device: 0.5 }, RangeError, /ctcAlign: device must be an integer in \[0, 1024\], got 0.5/],
];

describe('ctcAlign / ctcAlignAsync argument errors', () => {
  it.each(alignCases)('%s', async (_, patch, cls, message) => {
    const call = () => ctcAlign(x(), ctcOptions(patch) as never);
    expect(call).toThrow(cls);
    expect(call).toThrow(message);
    const p = ctcAlignAsync(x(), ctcOptions(patch) as never);
    await expect(p).rejects.toThrow(cls);
    await expect(p).rejects.toThrow(new RegExp(message.source.replace('ctcAlign:', 'ctcAlignAsync:')));
  });

  it('input of the wrong type', () => {
    expect(() => ctcAlign(new Int32Array(24) as never, ctcBase())).toThrow(
      /ctcAlign: logits must be a Float32Array, got Int32Array\(24\)/,
    );
  });
});

// The addon's own checks (lib/native.ts's NativeBinding): the N-API layer converts and type-checks, the C ABI
// checks the values; statuses map to error classes with `code`.
const nativeLoad = loadNative();
describe.runIf(nativeLoad.ok)('addon argument errors (the one entry: call / callAsync)', () => {
  const b = () => (nativeLoad as { binding: NativeBinding }).binding;
  const problem = (input = 0) => ({
    batch: 2,
    time: 4,
    classes: 3,
    layout: 0,
    input,
    blank: 0,
    inputLengths: null,
    targets: new Int32Array([1, 2, 1]),
    targetLengths: new Int32Array([2, 1]),
    counts: null,
  });
  const exec = { backend: onCuda ? 1 : 0, device: 0, threads: 1 };
  const ctcOpts = { reduction: 2, zeroInfinity: 0, fitAlpha: 0, fitGamma: 0, fitAlphaScope: 0 };
  const dctcOpts = { reduction: 2, zeroInfinity: 1, alignment: 0, lambda: 0.01, ctcWeight: 1, scale: 1, margin: 0 };
  const withGrad = { grad: true, posterior: false };
  const code = (e: unknown) => (e as { code?: string }).code;
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (e) {
      return e;
    }
    throw new Error('did not throw');
  };

  it('ctc: every option is read as given, typed by the layer and checked by the ABI', () => {
    expect(
      (b().call(OP.ctc, 'ctc', x(), problem(), ctcOpts, withGrad, exec) as { losses: Float32Array }).losses.length,
    ).toBe(2);
    let e = thrown(() =>
      b().call(OP.ctc, 'ctc', x(), problem(), { ...ctcOpts, fitAlpha: '0.5' as never }, withGrad, exec),
    );
    expect(e).toBeInstanceOf(TypeError);
    expect(String(e)).toMatch(/ctc: options.fitAlpha must be a number, got "0.5"/);
    e = thrown(() => b().call(OP.ctc, 'ctc', x(), problem(), { ...ctcOpts, fitAlphaScope: 0.5 }, withGrad, exec));
    expect(e).toBeInstanceOf(RangeError);
    expect(String(e)).toMatch(/ctc: options.fitAlphaScope must be an integer in int32 range, got 0.5/);
    for (const bad of [
      { fitAlpha: 1 },
      { fitAlpha: -0.5 },
      { fitGamma: -1 },
      { fitGamma: Infinity },
      { fitAlphaScope: 2 },
    ]) {
      e = thrown(() => b().call(OP.ctc, 'ctc', x(), problem(), { ...ctcOpts, ...bad }, withGrad, exec));
      expect(e, JSON.stringify(bad)).toBeInstanceOf(RangeError);
      expect(code(e)).toBe('SEQLOSS_ERROR_RANGE');
      // The ABI's message, prefixed with the function.
      expect(String(e)).toMatch(/^RangeError: ctc: fit\./);
    }
    e = thrown(() => b().call(OP.ctc, 'ctc', x(), problem(1), { ...ctcOpts, fitGamma: 1 }, withGrad, exec));
    expect(e).toBeInstanceOf(RangeError);
    expect(String(e)).toMatch(/ctc: input must be 0 \(logits\)/);
    e = thrown(() =>
      b().call(OP.ctc, 'ctc', x(), { ...problem(), targets: new Int32Array([1, 0, 1]) }, ctcOpts, withGrad, exec),
    );
    expect(String(e)).toMatch(
      /^RangeError: ctc: targets\[1\] must be a class in \[0, 3\) other than the blank 0, got 0/,
    );
  });

  it('dctc: every option is required and typed; values are checked by the ABI', async () => {
    for (const key of Object.keys(dctcOpts)) {
      const { [key]: _, ...rest } = dctcOpts as Record<string, unknown>;
      const e = thrown(() => b().call(OP.dctc, 'dctc', x(), problem(), rest, withGrad, exec));
      expect(e, key).toBeInstanceOf(TypeError);
      expect(String(e)).toMatch(new RegExp(`dctc: options.${key} must be an? (number|integer), got undefined`));
    }
    for (const bad of [
      { scale: 0 },
      { scale: NaN },
      { scale: 2e6 },
      { margin: -1 },
      { margin: 1e31 },
      { lambda: -1 },
      { ctcWeight: Infinity },
      { alignment: 3 },
      { reduction: 7 },
    ]) {
      const e = thrown(() => b().call(OP.dctc, 'dctc', x(), problem(), { ...dctcOpts, ...bad }, withGrad, exec));
      expect(e, JSON.stringify(bad)).toBeInstanceOf(RangeError);
      expect(code(e)).toBe('SEQLOSS_ERROR_RANGE');
    }
    const e = thrown(() => b().call(OP.dctc, 'dctc', x(), problem(1), dctcOpts, withGrad, exec));
    expect(e).toBeInstanceOf(RangeError);
    expect(String(e)).toMatch(/logits/);
    expect(
      String(
        thrown(() =>
          b().call(OP.dctc, 'dctc', x(), problem(), dctcOpts, { grad: new Float32Array(5), posterior: false }, exec),
        ),
      ),
    ).toMatch(/dctc: out.grad.length must be batch·time·classes = 24, got 5/);
    const data = x();
    expect(
      String(
        thrown(() => b().call(OP.dctc, 'dctc', data, problem(), dctcOpts, { grad: data, posterior: false }, exec)),
      ),
    ).toMatch(/dctc: out.grad must be an array that shares no memory with logits/);
    const p = problem();
    const aliased = new Float32Array(p.targets.buffer, 0, 0);
    void aliased;
    await expect(
      b().callAsync(OP.dctc, 'dctcAsync', x(), problem(), { ...dctcOpts, scale: -1 }, withGrad, exec),
    ).rejects.toThrow(RangeError);
    await expect(
      b().callAsync(OP.dctc, 'dctcAsync', x(), problem(), { ...dctcOpts, lambda: 'x' as never }, withGrad, exec),
    ).rejects.toThrow(/dctcAsync: options.lambda must be a number, got "x"/);
    const r = await b().callAsync(OP.dctc, 'dctcAsync', x(), problem(), dctcOpts, withGrad, exec);
    expect(Object.keys(r).sort()).toEqual(['alignment', 'ctcLosses', 'distillLosses', 'grad', 'loss', 'losses']);
  });

  it('ctcAlign: no options, no optional outputs', async () => {
    let e = thrown(() => b().call(OP.align, 'ctcAlign', x(), problem(), null, null, undefined as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(String(e)).toMatch(/ctcAlign: exec must be an object, got undefined/);
    e = thrown(() =>
      b().call(OP.align, 'ctcAlign', x(), { ...problem(), targetLengths: new Int32Array([1]) }, null, null, exec),
    );
    expect(e).toBeInstanceOf(RangeError);
    expect(String(e)).toMatch(/ctcAlign: problem.targetLengths.length must be batch = 2, got 1/);
    e = thrown(() => b().call(OP.align, 'ctcAlign', x(), { ...problem(), input: 2 }, null, null, exec));
    expect(e).toBeInstanceOf(RangeError);
    expect(code(e)).toBe('SEQLOSS_ERROR_RANGE');
    await expect(
      b().callAsync(OP.align, 'ctcAlignAsync', new Float64Array(24) as never, problem(), null, null, exec),
    ).rejects.toThrow(/ctcAlignAsync: data must be a Float32Array, got Float64Array\(24\)/);
    const r = (await b().callAsync(OP.align, 'ctcAlignAsync', x(), problem(), null, null, exec)) as {
      paths: Int32Array;
    };
    expect(Object.keys(r).sort()).toEqual(['paths', 'scores']);
    expect(r.paths.length).toBe(8);
    expect(String(thrown(() => b().call(99, 'f', x(), problem(), null, null, exec)))).toMatch(
      /^RangeError: f: the operation/,
    );
  });

  it('async calls compute on a copy taken at call time; a caller-owned output must stay attached', async () => {
    const buffer = new ArrayBuffer(24 * 4, { maxByteLength: 48 * 4 });
    const data = new Float32Array(buffer, 0, 24);
    data.set(x());
    const sync = b().call(OP.dctc, 'dctc', data, problem(), dctcOpts, withGrad, exec) as { grad: Float32Array };
    const pending = b().callAsync(OP.dctc, 'dctcAsync', data, problem(), dctcOpts, withGrad, exec);
    buffer.resize(0);
    const r = (await pending) as { grad: Float32Array };
    expect(Buffer.from(r.grad.buffer).equals(Buffer.from(sync.grad.buffer))).toBe(true);
    const outBuffer = new ArrayBuffer(24 * 4, { maxByteLength: 48 * 4 });
    const grad = new Float32Array(outBuffer, 0, 24);
    const shrunk = b().callAsync(OP.dctc, 'dctcAsync', x(), problem(), dctcOpts, { grad, posterior: false }, exec);
    outBuffer.resize(8);
    await expect(shrunk).rejects.toThrow(
      /dctcAsync: out.grad must keep its 24 values until the call settles, got a detached or resized array/,
    );
  });
});
