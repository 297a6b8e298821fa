//! Zero-copy reads: `Ioctx.read_buffer(...)` returns a `memoryview` over the bytes librados
//! received, with no copy into a Python `bytes` (python-rados' `read` copies; so does ours,
//! since `bytes` must own its storage). The view keeps the data alive as long as any slice
//! of it is; `bytes(view)`, `numpy.frombuffer(view, ...)`, `file.write(view)` and hashing
//! all read it in place.

use bytes::Bytes;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::ffi::{c_char, c_int, c_void};

// The buffer protocol is in the limited API only from Python 3.11, and the module is built
// for 3.9 and later, so the type that exports it is made here by hand: the slot number and
// `Py_buffer`'s layout have been fixed since Python 3.3.

/// `Py_bf_getbuffer` in `PyType_Spec` slots.
const PY_BF_GETBUFFER: c_int = 1;
const PYBUF_WRITABLE: c_int = 1;

/// CPython's `Py_buffer`.
#[repr(C)]
struct PyBuffer {
    buf: *mut c_void,
    obj: *mut ffi::PyObject,
    len: ffi::Py_ssize_t,
    itemsize: ffi::Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut ffi::Py_ssize_t,
    strides: *mut ffi::Py_ssize_t,
    suboffsets: *mut ffi::Py_ssize_t,
    internal: *mut c_void,
}

extern "C" {
    fn PyBuffer_FillInfo(
        view: *mut PyBuffer,
        obj: *mut ffi::PyObject,
        buf: *mut c_void,
        len: ffi::Py_ssize_t,
        readonly: c_int,
        flags: c_int,
    ) -> c_int;
}

/// A `rados.ReadBuffer` instance: the object header, then the bytes it exports.
#[repr(C)]
struct RawReadBuffer {
    base: ffi::PyObject,
    /// `Box::into_raw` of the data; null in an instance made from Python (it exports nothing).
    data: *mut Bytes,
}

unsafe extern "C" fn getbuffer(
    obj: *mut ffi::PyObject,
    view: *mut PyBuffer,
    flags: c_int,
) -> c_int {
    // SAFETY: the interpreter calls this with an instance of the type made in type_object
    // (so laid out as RawReadBuffer) and a view to fill. `data` is set once at creation and
    // freed only in dealloc; FillInfo takes a reference to `obj`, so the bytes outlive the view.
    unsafe {
        let data = (*(obj as *mut RawReadBuffer)).data;
        if data.is_null() || flags & PYBUF_WRITABLE != 0 {
            let msg = if data.is_null() {
                c"an empty ReadBuffer"
            } else {
                c"a ReadBuffer is read-only"
            };
            ffi::PyErr_SetString(ffi::PyExc_BufferError, msg.as_ptr());
            return -1;
        }
        let data = &*data;
        // Bytes never exceed isize::MAX.
        let len = data.len() as ffi::Py_ssize_t;
        PyBuffer_FillInfo(view, obj, data.as_ptr() as *mut c_void, len, 1, flags)
    }
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called once, when the last reference goes; frees what creation allocated and
    // releases the reference every heap-type instance holds on its type.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        let data = (*(obj as *mut RawReadBuffer)).data;
        if !data.is_null() {
            drop(Box::from_raw(data));
        }
        let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(tp, ffi::Py_tp_free));
        free(obj as *mut c_void);
        ffi::Py_DECREF(tp as *mut ffi::PyObject);
    }
}

/// The `rados.ReadBuffer` type, made on first use.
fn type_object(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TYPE.get_or_try_init(py, || {
        let mut slots = [
            ffi::PyType_Slot {
                slot: PY_BF_GETBUFFER,
                pfunc: getbuffer as *mut c_void,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_dealloc,
                pfunc: dealloc as *mut c_void,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_doc,
                pfunc: c"Read-only bytes owned by librados, exported through the buffer protocol."
                    .as_ptr() as *mut c_void,
            },
            ffi::PyType_Slot {
                slot: 0,
                pfunc: std::ptr::null_mut(),
            },
        ];
        let mut spec = ffi::PyType_Spec {
            name: c"rados.ReadBuffer".as_ptr(),
            basicsize: std::mem::size_of::<RawReadBuffer>() as c_int,
            itemsize: 0,
            flags: ffi::Py_TPFLAGS_DEFAULT as _,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: the spec and slots are valid for the call (the interpreter copies them);
        // the result is a new reference or NULL with the exception set.
        let tp = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
        Ok(tp.cast_into::<PyType>()?.unbind())
    })
    .map(|t| t.bind(py))
}

/// A read-only `memoryview` over `data`, without copying it.
pub fn memoryview(py: Python<'_>, data: Bytes) -> PyResult<Bound<'_, PyAny>> {
    let tp = type_object(py)?;
    // SAFETY: tp_alloc of a heap type returns a zeroed instance of basicsize bytes (new
    // reference) or NULL with the exception set; `data` is stored before anyone sees it.
    let owner = unsafe {
        let raw = tp.as_type_ptr();
        let alloc: ffi::allocfunc = std::mem::transmute(ffi::PyType_GetSlot(raw, ffi::Py_tp_alloc));
        let obj = Bound::from_owned_ptr_or_err(py, alloc(raw, 0))?;
        (*(obj.as_ptr() as *mut RawReadBuffer)).data = Box::into_raw(Box::new(data));
        obj
    };
    // SAFETY: `owner` is live; a new reference or NULL with the exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(owner.as_ptr())) }
}
