"""`/metrics` in Prometheus' text format: per camera its lag, sampling rate, steps, encodes skipped, tokens kept,
clips, alerts, reconnects and errors, the answers' count and seconds to the first piece, and the vision tower's
calls and the steps they carried (cross-camera batching). Read at scrape time
from the running cameras (nothing is counted twice: the figures are the ones the API's camera list shows).

prometheus_client writes the format (its escaping, `# HELP`/`# TYPE` lines, the `_total` and `_sum` suffixes):
it is the format's reference implementation, and a scraper reads exactly what it writes."""
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from app.service import Service
from stream.service.sinks.base import CAMERA_STATES

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _Collector:
    def __init__(self, service: Service):
        self.service = service

    def collect(self):
        cams = self.service.registry.cameras() if self.service.registry is not None else []
        lag = GaugeMetricFamily("vigil_camera_lag_seconds", "seconds from a frame's arrival to the end of its "
                                "step's processing (the last step)", labels=["camera"])
        fps = GaugeMetricFamily("vigil_camera_sampled_fps", "frames sampled per second, over the last few",
                                labels=["camera"])
        counters = {k: CounterMetricFamily(f"vigil_camera_{k}", doc, labels=["camera"]) for k, doc in (
            ("frames", "frames sampled"), ("steps", "steps taken (a step: the frames encoded together)"),
            ("encodes_skipped", "steps whose vision-tower pass the pixel gate skipped (nothing moved)"),
            ("frames_skipped", "sample slots skipped because the loop fell behind"),
            ("tokens_seen", "visual tokens the vision tower gave"),
            ("tokens_kept", "visual tokens the drop kept (the rest were the same as the last kept at their place)"),
            ("clips", "clips stored"), ("alerts", "alerts raised"),
            ("reconnects", "times the source was opened again after it dropped"))}
        errors = CounterMetricFamily("vigil_camera_errors", "faults that cost no stream: writes the store refused "
                                     "(storage), rule checks and descriptions that failed (check), alerts a sink "
                                     "refused (sink)", labels=["camera", "kind"])
        state = GaugeMetricFamily("vigil_camera_state", "1 for the camera's state, 0 for the others",
                                  labels=["camera", "state"])
        for w in cams:
            name, st, status = w.spec.name, w.stats(), w.status()
            lag.add_metric([name], st.lag)
            fps.add_metric([name], st.sampled_fps)
            for k, fam in counters.items():
                fam.add_metric([name], w.source.status().reconnects if k == "reconnects" else getattr(st, k))
            errors.add_metric([name, "storage"], w.session.faults)
            errors.add_metric([name, "check"], status["checks_failed"])
            errors.add_metric([name, "sink"], w.sink_faults)
            for s in CAMERA_STATES:
                state.add_metric([name, s], 1.0 if status["state"] == s else 0.0)
        yield from [lag, fps, *counters.values(), errors, state]
        e = self.service.engine
        asked, first, seconds = e.answers.snapshot() if e is not None else (0, 0, 0.0)
        yield CounterMetricFamily("vigil_answers", "questions put to what answers", value=asked)
        yield SummaryMetricFamily("vigil_answer_first_piece_seconds",
                                  "seconds from a question to the first piece of its answer",
                                  count_value=first, sum_value=seconds)
        if e is not None:                    # cross-camera batching: how many steps a vision-tower call carries
            b = e.encoder.stats()
            yield CounterMetricFamily("vigil_encoder_calls", "vision-tower calls", value=b.calls)
            yield CounterMetricFamily("vigil_encoder_steps", "steps encoded in them (steps / calls: the batch)",
                                      value=b.steps)
            yield CounterMetricFamily("vigil_encoder_shared_calls", "calls that carried several cameras' steps",
                                      value=b.shared)


def metrics_text(service: Service) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(service))
    return generate_latest(registry)
