"""One benchmark session: prepares the process, runs the plan's cases, journals each pass (so that a
killed session keeps them: bench.store.journal), and writes the run at the end."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from bench import ROOT, backends, hardware, store
from bench.analysis.scaling import fill_scaling_efficiency
from bench.calibration import PEAKS_COLUMN
from bench.options import TF32, HarnessConfig
from bench.output.summary import summary_lines
from bench.plan import Case, Plan
from bench.results import SERVER_STATUSES, CaseResult
from bench.runner import CaseRunner


def apply_numerics(config: HarnessConfig) -> None:
    """The run's dtype policy and TensorFloat-32 setting, before any model is built (a session, a gate worker)."""
    import keras

    keras.config.set_dtype_policy(config.precision)
    if TF32[config.tf32] is not None:
        backends.active().set_tf32(TF32[config.tf32])


class BenchSession:
    """The session's plan, its runner and its outcome: where the run was written, and its report."""

    def __init__(self, config: HarnessConfig):
        self.config = config
        self.plan = Plan(config)
        self.runner = CaseRunner(config, self.plan)
        self.fingerprint: dict | None = None  # the run-level columns, measured by prepare()
        self.written: store.WrittenRun | None = None
        self.unwritten: str | None = None  # why the run could be written nowhere
        self.report: Path | str | None = None  # the report's page, or why there is none
        self.collected = False  # set when benchmark cases are collected
        self.summary_shown = False
        self.smoke = False  # --benchmark-disable: each case called once, nothing timed or written
        self.peaks: dict[tuple[str, str], float] = {}  # (device, precision) -> measured matmul GFLOP/s
        self.journal: store.Journal | None = None  # opened by prepare(), removed once the run is written

    @property
    def results(self):
        return self.runner.results

    def run(self, case: Case, pass_number: int, benchmark) -> None:
        """One pass of one case (see CaseRunner.run), after preparing the process once; then, the pass
        timed (or skipped, or failed), its row and rounds go into the journal."""
        if self.fingerprint is None:
            self.prepare()
        try:
            self.runner.run(case, pass_number, benchmark)
        finally:
            if not benchmark.disabled:  # a smoke run times nothing and writes nothing
                self._journal_pass(case, pass_number)

    def _journal_pass(self, case: Case, pass_number: int) -> None:
        row = self._row_of(case)
        if row is None or self.journal is None:
            return
        rounds = next((rounds for result, rounds in self.runner.samples if result is row), [])
        self.journal.record(case.id, self._with_known_peak(row).flat(),
                            [(number, seconds) for number, seconds in rounds if number == pass_number])

    def _row_of(self, case: Case) -> CaseResult | None:
        """The case's row (the newest, should it have several), if it has one yet."""
        key = (case.model, case.mode, case.device, case.batch_size, case.replicas or 1,
               case.load.label if case.load else "")
        return next((row for row in reversed(self.results)
                     if (row.model, row.mode, row.device, row.batch_size, row.replicas, row.load) == key), None)

    def _with_known_peak(self, row: CaseResult) -> CaseResult:
        """A copy of a measured single-device row with the peak measured at start-up and its efficiency, as
        an interrupted session writes it (the journal's row; finish sets the session's own)."""
        from bench.calibration import compute_precision

        if row.status not in ("ok", *SERVER_STATUSES) or row.replicas != 1:
            return row
        peak = self.peaks.get((row.device, compute_precision(row.precision, row.tf32)), math.nan)
        return dataclasses.replace(row).with_peak(peak)

    def prepare(self) -> None:
        """Once, before the first case: the dtype policy, TF32, the fingerprint and the calibration workload
        (timed before any model is built, on a quiet process)."""
        import keras

        from bench.calibration import calibrate, device_peaks, format_peaks
        from bench.environment import run_fingerprint

        apply_numerics(self.config)
        backend = backends.active()
        gpus = hardware.nvidia_gpus()
        self.fingerprint = {
            **run_fingerprint(backend_name=backend.name, backend_version=backend.version(),
                              keras_version=keras.__version__, source_dir=ROOT, nvidia_gpus=hardware.describe(gpus),
                              machine=self.config.machine),
            **hardware.fingerprint(gpus),
            "processes": backends.requested_processes(), "process_id": backend.process_index(),
            **backend.threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            **calibrate(backend.device_scope(self.plan.devices()["cpu"])),
        }
        cpu = self.plan.devices()["cpu"]
        self.peaks = {("cpu", "float32"): self.fingerprint["calibration_matmul_gflops"], **device_peaks(backend, cpu)}
        self.journal = store.Journal(self.config.results_dir,
                                     {**self.fingerprint, PEAKS_COLUMN: format_peaks(self.peaks)})

    def finish(self, *, interrupted: bool = False, smoke: bool = False) -> None:
        """Writes the run's files, if any case was measured or skipped: where asked, else in the fallback.
        An interrupted session writes at once: it skips timing the GPUs' peaks (its GPU rows get no efficiency).
        A smoke run (`smoke`: pytest-benchmark's --benchmark-disable) writes nothing."""
        self.smoke = smoke
        if not self.results or smoke:
            self._close_journal("nothing to write")
            return
        fill_scaling_efficiency(self.results)
        self._fill_efficiency(measure_gpus=not interrupted)
        try:
            self.written = store.save_run(self.config.results_dir, self.fingerprint, self.results,
                                          self.runner.samples)
        except OSError as error:  # the journal stays: it is the run's only record
            self.unwritten = f"{self.config.results_dir} and the fallback {store.fallback_dir()}: {error}"
            return
        if not self.written.refused:  # in the fallback only (perhaps a runner's /tmp): the store's journal stays
            self._close_journal(str(self.written.run))
        if self.config.report:
            self._write_report(self.written.local or self.written.run)

    def _close_journal(self, outcome: str) -> None:
        if self.journal is not None:
            self.journal.close(outcome)

    def _fill_efficiency(self, *, measure_gpus: bool) -> None:
        """Times the GPUs' matmul peaks now that the cases are done (if `measure_gpus`), and sets each
        single-device row's peak and efficiency (data-parallel rows spread over several devices: none)."""
        from bench.calibration import compute_precision, device_peaks, format_peaks

        devices = self.plan.devices()
        measured = [row for row in self.results if row.status in ("ok", *SERVER_STATUSES) and row.replicas == 1]
        used = {row.device for row in measured}
        for name in sorted(used - {"cpu"}) if measure_gpus else ():
            if name in devices:
                self.peaks.update(device_peaks(backends.active(), devices[name]))
        self.fingerprint[PEAKS_COLUMN] = format_peaks(self.peaks)
        for row in measured:
            row.with_peak(self.peaks.get((row.device, compute_precision(row.precision, row.tf32)), math.nan))

    def _write_report(self, run_path: Path) -> None:
        """The report beside the run file (a run uploaded to a store: beside its copy in the local cache)."""
        from bench.output.report import write_report

        try:
            self.report = write_report([str(run_path)], run_path.with_name(run_path.stem + "-report"))
        except (store.RunFileError, OSError) as error:  # e.g. no case ran ok: nothing to plot
            self.report = f"no report: {error}"

    def summary_lines(self) -> list[str]:
        """The end-of-run summary (see bench.output.summary)."""
        return summary_lines(self.results, written=self.written, unwritten=self.unwritten, report=self.report,
                             nothing_timed=self.collected and (self.smoke or not self.results),
                             gpu_hint=self.plan.gpu_hint() if self.collected else None)
