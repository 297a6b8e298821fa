# The Python half of the `rados` module, compiled into the extension and run once when it is
# imported (src/lib.rs): the exception hierarchy, which needs Python classes (abi3 before 3.12
# cannot subclass Exception from Rust), and the small helpers that hand results to asyncio.
#
# Names, constructors, messages and the hierarchy follow Ceph's python-rados, so code that
# catches rados.ObjectNotFound (or rados.OSError, or rados.Error) works unchanged. A few classes
# are ours, each a subclass of rados.OSError, for errors python-rados reports as a bare OSError:
# ReadOnly (EROFS), OperationCanceled (ECANCELED), NotSupported (EOPNOTSUPP), and
# PoolNotFound, a subclass of ObjectNotFound.


class Error(Exception):
    """`Error` class, derived from `Exception`: the base class of every rados exception.

    ``errno`` is the positive errno the operation failed with (None when none applies)."""

    _prefix = None

    def __init__(self, message, errno=None):
        self.message = message
        self.errno = errno
        if self._prefix is not None:
            message = "{} ({})".format(self._prefix, message)
        super().__init__(message)

    def __str__(self):
        text = super().__str__()
        if self.errno is None:
            return text
        return "[errno {}] {}".format(self.errno, text)

    def __reduce__(self):
        return (self.__class__, (self.message, self.errno))


class OSError(Error):
    """`OSError` class, derived from `Error`: an error with an errno."""


class InvalidArgumentError(Error):
    _prefix = "RADOS invalid argument"


class ExtendMismatch(Error):
    """A compare-extent found different content; ``offset`` is where."""

    _prefix = "object content does not match"

    def __init__(self, message, errno, offset):
        super().__init__(message, errno)
        self.offset = offset

    def __reduce__(self):
        return (self.__class__, (self.message, self.errno, self.offset))


class InProgress(Error):
    _prefix = "RADOS in progress error"


class IsConnected(Error):
    _prefix = "RADOS is connected error"


class LogicError(Error):
    _prefix = "RADOS logic error"


class IoctxStateError(Error):
    _prefix = "RADOS Ioctx state error"


class ObjectStateError(Error):
    _prefix = "RADOS object state error"


class RadosStateError(Error):
    _prefix = "RADOS rados state"


class PermissionError(OSError):
    _prefix = "RADOS permission error"


class PermissionDeniedError(OSError):
    _prefix = "RADOS permission denied"


class ObjectNotFound(OSError):
    _prefix = "RADOS object not found"


class NoData(OSError):
    _prefix = "RADOS no data"


class ObjectExists(OSError):
    _prefix = "RADOS object exists"


class ObjectBusy(OSError):
    _prefix = "RADOS object busy"


class IOError(OSError):
    _prefix = "RADOS I/O error"


class NoSpace(OSError):
    _prefix = "RADOS no space"


class NotConnected(OSError):
    _prefix = "RADOS not connected"


class ConnectionShutdown(OSError):
    _prefix = "RADOS connection was shutdown"


class TimedOut(OSError):
    _prefix = "RADOS timed out"


class InterruptedOrTimeoutError(OSError):
    _prefix = "RADOS interrupted or timeout"


# Ours (not in python-rados, which raises a bare rados.OSError for these errnos).
class PoolNotFound(ObjectNotFound):
    """The pool does not exist (python-rados raises ObjectNotFound, which this is)."""

    _prefix = "RADOS pool not found"


class ReadOnly(OSError):
    """EROFS: a write through an Ioctx reading at a snapshot."""

    _prefix = "RADOS read-only"


class OperationCanceled(OSError):
    """ECANCELED: a guard of a compound operation failed, nothing was applied."""

    _prefix = "RADOS operation canceled"


class NotSupported(OSError):
    """EOPNOTSUPP: not available in this implementation (or not for this pool)."""

    _prefix = "RADOS operation not supported"


# errno -> class, as python-rados maps them; anything else is a bare OSError.
ERRNO_CLASSES = {
    1: PermissionError,  # EPERM
    2: ObjectNotFound,  # ENOENT
    4: InterruptedOrTimeoutError,  # EINTR
    5: IOError,  # EIO
    13: PermissionDeniedError,  # EACCES
    16: ObjectBusy,  # EBUSY
    17: ObjectExists,  # EEXIST
    22: InvalidArgumentError,  # EINVAL
    28: NoSpace,  # ENOSPC
    30: ReadOnly,  # EROFS
    61: NoData,  # ENODATA
    95: NotSupported,  # EOPNOTSUPP
    106: IsConnected,  # EISCONN
    107: NotConnected,  # ENOTCONN
    108: ConnectionShutdown,  # ESHUTDOWN
    110: TimedOut,  # ETIMEDOUT
    115: InProgress,  # EINPROGRESS
    125: OperationCanceled,  # ECANCELED
}


# Ceph reports a compare-extent mismatch at byte i of the compared buffer as MAX_ERRNO + i.
MAX_ERRNO = 4095


def make_ex(errno, message, pool_missing=False):
    """The exception for a failure with a positive ``errno``."""
    if errno >= MAX_ERRNO:
        return ExtendMismatch(message, errno, errno - MAX_ERRNO)
    if pool_missing:
        return PoolNotFound(message, errno=errno)
    return ERRNO_CLASSES.get(errno, OSError)(message, errno=errno)


# asyncio: a Completion being awaited hands its outcome to the awaiting loop's future from the
# callback thread, through loop.call_soon_threadsafe with these.
def _set_result(fut, value):
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut, exc):
    if not fut.done():
        fut.set_exception(exc)
