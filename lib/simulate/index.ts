// The public 'seqloss/simulate' entry: the simulator (run.ts, model.ts) and its report (report.ts, loaded only when a
// report is asked for, so that importing the simulator does not load vega).
import type { SimulateResult } from './model.js';

export {
  aceMinimum,
  configName,
  DEFAULT_COMPARISON,
  defaultSnapshots,
  initialTable,
  SIMULATE_DEFAULTS,
  type SimConfig,
  type SimLoss,
  type SimPoint,
  type SimRun,
  type SimSnapshot,
  type SimSummary,
  type SimulateOptions,
  type SimulateResult,
} from './model.js';
export { simulate } from './run.js';

/** The self-contained HTML report of a simulation (SVG figures drawn with vega-lite, no scripts). */
export async function simulateReport(result: SimulateResult): Promise<string> {
  const { renderReport } = await import('./report.js');
  return renderReport(result);
}
