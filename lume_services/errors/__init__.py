"""Errors raised by lume-services.

One class per failure a user can act on. Every message names what is wrong and
what would be right (the flow's parameters, its tasks, the configured
filesystems, ...). All classes derive from :class:`LUMEServicesError`.

Each class builds its message in ``__init__`` from structured arguments (names,
paths, types, the valid alternatives), which it keeps as attributes: code that
catches an error reads ``exc.flow_name`` or ``exc.base_image`` instead of
parsing the message, and a message reads the same wherever it is raised. An
error is built again from the same arguments when it is unpickled.

Errors come in families, each caught by one base class, each true to where
its errors are raised (``tests/test_errors.py`` derives that from the raise
sites):

* :class:`FlowOfFlowsError`: a flow of flows that cannot be built or run as
  declared: its declaration (:class:`InvalidFlowOfFlowsError` and its
  subclasses), its mappings, duplicate names, cycles, a composition missing.
* :class:`RunError`: a flow run on any backend failed, timed out or left a
  task without a result, or the recorded runs do not hold what was asked.
* :class:`ServerError`: raised only with a Prefect Server backend (``server``,
  ``docker``, ``kubernetes``): the server does not answer or refuses a request,
  a flow is not registered there or not in a version it runs, labels no agent
  serves, a value over its state limit.
* :class:`DockerError`: the Docker engine is not there, or an image cannot be
  built (:class:`ImageBuildError` and its subclasses).
* :class:`StorageError`: an embedded store under ``LUME_HOME`` (the flow
  registry, the SQLite results database, the run history) is not trusted or
  cannot be used.
* :class:`ResultsError`: results and the results database: a query, index or
  document it does not take, a result not found or found more than once, a
  reference, type, attribute or key that is not there.
* :class:`FileError`: files and the file service's filesystems.
* :class:`ModelDBError`: the model database: a model, deployment, project or
  flow not stored, a row clashing with a stored one or missing what it needs.
* :class:`ModelPackageError`: a model's package cannot be read, unpacked
  (an archive member that would escape) or installed (the environment solver).
* :class:`ServicesError`: the services stack cannot be started, checked or
  stopped with docker compose (``lume-services docker ...``).
* :class:`ConfigurationError`: the ``LUME_*`` settings.

The errors of a single flow that every backend raises (a flow, task or
parameter that is not there, a run config or executor the backend cannot
honour, a missing optional package) derive from :class:`LUMEServicesError`
directly; its docstring lists them. A member of a family may also derive from a
more general class: ``FlowOfFlowsNotComposedError`` is a ``FlowNotLoadedError``
as well as a ``FlowOfFlowsError``, ``MissingExtraError`` an ``ImportError``,
``InvalidDocumentError`` a ``TypeError``, ``NotARegularFileError`` an ``OSError``,
``FlowNotInModelDBError`` a ``FlowNotFoundError``, ``UnknownColumnError`` a ``ValueError``.

These errors deliberately do not derive from ``ValueError`` (but
``UnknownColumnError``, as LUME-services' was): pydantic 1 wraps ``ValueError``
raised inside validators into a generic ``ValidationError``, and a flow of
flows must refuse bad compositions with the specific class.

This package is the one public face: every class is imported from here, and
names ``lume_services.errors`` as its module (in tracebacks and in pickles),
whichever private module (one per family) defines it.
"""

from lume_services.errors._base import LUMEServicesError
from lume_services.errors._config import ConfigurationError, EnvironmentNotConfiguredError, UnknownSettingWarning
from lume_services.errors._docker import (
    BaseImageNotFoundError,
    DockerEngineUnavailableError,
    DockerError,
    FlowCodeNotImportableError,
    ImageBuildError,
    ImageTransferError,
    PythonVersionMismatchError,
)
from lume_services.errors._files import (
    DuplicateFilesystemError,
    FileError,
    FileHasNoObjectError,
    FileTooLargeError,
    FilesystemNotConfiguredError,
    InvalidFileReferenceError,
    InvalidMountError,
    NotARegularFileError,
    PathNotInMount,
    UnknownFileTypeError,
    UnknownFilesystemTypeError,
)
from lume_services.errors._flow_of_flows import (
    AmbiguousParentTaskError,
    ComposingFlowNameMismatchError,
    DeclarationTooLargeError,
    DeclarationYAMLError,
    DuplicateDeclarationKeyError,
    DuplicateFlowNameError,
    ExposedParameterClashError,
    FlowCycleError,
    FlowOfFlowsError,
    FlowOfFlowsFileNotFoundError,
    FlowOfFlowsNotComposedError,
    InvalidDeclarationNameError,
    InvalidDeclarationValueError,
    InvalidFlowOfFlowsError,
    KeyNotForMapTypeError,
    MalformedDeclarationError,
    MissingDBAttributeError,
    MissingDeclarationKeyError,
    NoComposingFlowsError,
    ParentFlowNotInFlowsError,
    ParentProjectMismatchError,
    UnknownDeclarationKeyError,
    UnknownMapTypeError,
)
from lume_services.errors._flows import (
    FlowRegisteredWithOtherPythonError,
    ExecutorNotAvailableError,
    FlowNotFoundError,
    FlowNotLoadedError,
    FlowNotSerializableError,
    GraphvizNotFoundError,
    LocalBackendError,
    MissingExtraError,
    MissingParameterError,
    ParameterNotInFlowError,
    TaskNotInFlowError,
    UnsupportedRunConfigError,
)
from lume_services.errors._model_packages import (
    MissingEnvironmentYamlError,
    ModelPackageError,
    ModelSourceNotFoundError,
    NoCondaEnvironmentFoundError,
    NoFlowFoundInPackageError,
    NoPackagesToInstallError,
    UnableToIndexLocalChannelError,
    UnableToInstallCondaDependenciesError,
    UnableToInstallPipDependenciesError,
    UnsafeArchiveMemberError,
    UnsupportedModelSourceError,
    WritePermissionError,
)
from lume_services.errors._models import (
    DeploymentNotFoundError,
    DeploymentNotRegisteredError,
    FlowAlreadyDeployedError,
    FlowNotInModelDBError,
    FlowOfFlowsNotFoundError,
    IncompleteDeploymentError,
    ModelDBConflictError,
    ModelDBError,
    ModelDBUnreachableError,
    ModelNotFoundError,
    ModelNotSpecifiedError,
    ProjectNotFoundError,
    UnknownColumnError,
)
from lume_services.errors._results import (
    ImpactNotAvailableError,
    InvalidDocumentError,
    InvalidIndexError,
    InvalidResultReferenceError,
    MultipleResultsFoundError,
    ResultAttributeError,
    ResultKeyError,
    ResultNotFoundError,
    ResultsDBUnreachableError,
    ResultsError,
    UnknownResultTypeError,
    UnsupportedQueryError,
)
from lume_services.errors._flow_of_flows_reuse import (
    ChildVersionChangedError,
    FlowOfFlowsFeatureNotOnBackendError,
    InvalidCacheOptionError,
    InvalidMapOverError,
    RunNotOfFlowOfFlowsError,
)
from lume_services.errors._runs import (
    AmbiguousRunIdError,
    LineageNotFoundError,
    EmptyResultError,
    FlowFailedError,
    FlowRunProcessEndedError,
    FlowRunTimeoutError,
    InvalidRunFilterError,
    RunError,
    RunNotFoundError,
    RunResultNotRecordedError,
    TaskNotCompletedError,
)
from lume_services.errors._server import (
    ChildFlowArchivedError,
    ChildRunTimeoutError,
    EmptyLabelsError,
    FlowIdNotFoundError,
    FlowNotRegisteredError,
    FlowNotRegistrableError,
    FlowRegistrationError,
    FlowVersionArchivedError,
    RunHistoryNotPrunableError,
    SecretInRunConfigError,
    ServerError,
    ServerReplyError,
    ServerRequestError,
    ServerUnreachableError,
    StateTooLargeError,
    TaskResultTooLargeError,
)
from lume_services.errors._services import (
    ComposeCommandError,
    ComposeNotAvailableError,
    ServicesError,
    ServicesNotReadyError,
)
from lume_services.errors._storage import (
    RunHistoryCorruptError,
    StorageError,
    StoredRecordDamagedError,
    StoreUnusableError,
    UntrustedStoreError,
)

__all__ = [
    "FlowRegisteredWithOtherPythonError",
    "ChildVersionChangedError",
    "FlowOfFlowsFeatureNotOnBackendError",
    "InvalidCacheOptionError",
    "InvalidMapOverError",
    "LineageNotFoundError",
    "RunNotOfFlowOfFlowsError",
    "AmbiguousParentTaskError",
    # the root, and the root-level errors
    "LUMEServicesError",
    "ExecutorNotAvailableError",
    "FlowNotFoundError",
    "FlowNotLoadedError",
    "FlowNotSerializableError",
    "GraphvizNotFoundError",
    "LocalBackendError",
    "MissingExtraError",
    "MissingParameterError",
    "ParameterNotInFlowError",
    "TaskNotInFlowError",
    "UnsupportedRunConfigError",
    # flows of flows
    "FlowOfFlowsError",
    "ComposingFlowNameMismatchError",
    "DeclarationTooLargeError",
    "DeclarationYAMLError",
    "DuplicateDeclarationKeyError",
    "DuplicateFlowNameError",
    "ExposedParameterClashError",
    "FlowCycleError",
    "FlowOfFlowsFileNotFoundError",
    "FlowOfFlowsNotComposedError",
    "InvalidDeclarationNameError",
    "InvalidDeclarationValueError",
    "InvalidFlowOfFlowsError",
    "KeyNotForMapTypeError",
    "MalformedDeclarationError",
    "MissingDBAttributeError",
    "MissingDeclarationKeyError",
    "NoComposingFlowsError",
    "ParentFlowNotInFlowsError",
    "ParentProjectMismatchError",
    "UnknownDeclarationKeyError",
    "UnknownMapTypeError",
    # runs
    "RunError",
    "EmptyResultError",
    "FlowFailedError",
    "FlowRunProcessEndedError",
    "FlowRunTimeoutError",
    "InvalidRunFilterError",
    "RunNotFoundError",
    "AmbiguousRunIdError",
    "RunResultNotRecordedError",
    "TaskNotCompletedError",
    # server backends
    "ServerError",
    "ChildFlowArchivedError",
    "ChildRunTimeoutError",
    "EmptyLabelsError",
    "FlowIdNotFoundError",
    "FlowNotRegisteredError",
    "FlowNotRegistrableError",
    "FlowRegistrationError",
    "FlowVersionArchivedError",
    "RunHistoryNotPrunableError",
    "ServerReplyError",
    "ServerRequestError",
    "ServerUnreachableError",
    "SecretInRunConfigError",
    "StateTooLargeError",
    "TaskResultTooLargeError",
    # docker
    "DockerError",
    "BaseImageNotFoundError",
    "DockerEngineUnavailableError",
    "FlowCodeNotImportableError",
    "ImageBuildError",
    "ImageTransferError",
    "PythonVersionMismatchError",
    # stores
    "StorageError",
    "RunHistoryCorruptError",
    "StoreUnusableError",
    "StoredRecordDamagedError",
    "UntrustedStoreError",
    # results
    "ResultsError",
    "ImpactNotAvailableError",
    "InvalidDocumentError",
    "InvalidIndexError",
    "InvalidResultReferenceError",
    "MultipleResultsFoundError",
    "ResultAttributeError",
    "ResultKeyError",
    "ResultNotFoundError",
    "ResultsDBUnreachableError",
    "UnknownResultTypeError",
    "UnsupportedQueryError",
    # files
    "FileError",
    "DuplicateFilesystemError",
    "FileHasNoObjectError",
    "FileTooLargeError",
    "FilesystemNotConfiguredError",
    "InvalidFileReferenceError",
    "InvalidMountError",
    "NotARegularFileError",
    "PathNotInMount",
    "UnknownFileTypeError",
    "UnknownFilesystemTypeError",
    # the model database
    "ModelDBError",
    "DeploymentNotFoundError",
    "DeploymentNotRegisteredError",
    "FlowAlreadyDeployedError",
    "FlowNotInModelDBError",
    "FlowOfFlowsNotFoundError",
    "IncompleteDeploymentError",
    "ModelDBConflictError",
    "ModelDBUnreachableError",
    "ModelNotFoundError",
    "ModelNotSpecifiedError",
    "ProjectNotFoundError",
    "UnknownColumnError",
    # model packages (the environment solver)
    "ModelPackageError",
    "ModelSourceNotFoundError",
    "UnsupportedModelSourceError",
    "UnsafeArchiveMemberError",
    "WritePermissionError",
    "NoPackagesToInstallError",
    "MissingEnvironmentYamlError",
    "NoCondaEnvironmentFoundError",
    "UnableToInstallCondaDependenciesError",
    "UnableToInstallPipDependenciesError",
    "UnableToIndexLocalChannelError",
    "NoFlowFoundInPackageError",
    # the services stack (lume-services docker ...)
    "ServicesError",
    "ComposeNotAvailableError",
    "ComposeCommandError",
    "ServicesNotReadyError",
    # settings
    "ConfigurationError",
    "EnvironmentNotConfiguredError",
    "UnknownSettingWarning",
]

# The public face is the module of record: tracebacks read lume_services.errors.FlowNotFoundError,
# and a pickled error names this path, so moving a class between private modules breaks no pickle.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
