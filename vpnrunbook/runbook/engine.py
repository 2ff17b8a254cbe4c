"""The papermill engine ``vpnrunbook run`` uses: papermill's nbclient engine, saving the output notebook at the
end and at most every :data:`SAVE_EVERY_SECONDS` while cells run, instead of twice per cell.

papermill writes the whole output notebook when a cell starts and when it completes — so a scheduler watching the
file sees progress. The runner's output file is private (a temporary staging folder, turned into evidence when
the run ends), so those writes only cost time: two serialisations of the whole notebook per cell, on the path
between one cell and the next. The final save still happens whatever ends the run (papermill's
``notebook_complete`` runs in a ``finally``), so a run stopped by a cell error, a timeout or a dead kernel keeps
the outputs of the cells that ran; a long run is still saved every :data:`SAVE_EVERY_SECONDS`.
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE_NAME = "vpnrunbook"
SAVE_EVERY_SECONDS = 10.0


class EvidenceExecutionManager(NotebookExecutionManager):
    """papermill's execution manager with throttled saves (the final save always happens)."""

    def save(self, **kwargs: Any) -> None:
        final = self.end_time is not None  # set by notebook_complete() just before its save
        if final or (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY_SECONDS:
            super().save(**kwargs)


class EvidenceEngine(NBClientEngine):
    """nbclient execution, as papermill's default engine, with :class:`EvidenceExecutionManager`."""

    @classmethod
    def execute_notebook(cls, nb: Any, kernel_name: str, output_path: str | None = None, progress_bar: bool = True,
                         log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any) -> Any:
        nb_man = EvidenceExecutionManager(nb, output_path=output_path, progress_bar=progress_bar,
                                          log_output=log_output, autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, EvidenceEngine)
