export {
  DEFAULT_METRICS,
  MAX_COUNTS_PER_MESSAGE,
  METRICS_VALUE_MAX,
  MetricsCollector,
  hourOf,
  valueKeyOf,
  type CountedResult,
  type MetricsSettings,
} from './collector';
