"""``ImpactResult``: the result of an Impact-T simulation (LUME-services' result type for Impact)."""

from datetime import datetime
from typing import Any, Dict, Optional

from lume_services.errors import ImpactNotAvailableError
from lume_services.files.file import HDF5File, ImageFile
from lume_services.results.result import Result


class ImpactResult(Result):
    """An Impact-T run's result: its inputs and outputs, plot, archive and configuration.

    The fields are LUME-services'; results of this type are stored in the
    ``Impact`` collection unless given a project. The archive is an
    :class:`~lume_services.files.HDF5File`, whose data ``archive.read()``
    returns; loading it as a lume-impact ``Impact`` object
    (:meth:`load_impact`) needs lume-impact, which cannot be installed here.

    Attributes:
        plot_file: the dashboard plot, an image file.
        archive: the Impact archive, an HDF5 file.
        pv_collection_isotime: when the process variables were collected.
        config: the Impact configuration of the run.
    """

    project_name: str = "Impact"
    plot_file: Optional[ImageFile] = None
    archive: HDF5File
    pv_collection_isotime: datetime
    config: Dict[str, Any]

    def load_impact(self) -> Any:
        """Load the archive as a lume-impact ``Impact`` object.

        Raises:
            ImpactNotAvailableError: always here; lume-impact cannot be installed
                beside this package. Use ``archive.read()`` for the archive's data.
        """
        raise ImpactNotAvailableError(self.archive.filename)
