//! Pool applications as python-rados presents them: `Ioctx.application_enable`,
//! `application_list` and the `application_metadata_*` calls, with python-rados' return
//! shapes (lists of names, lists of (key, value) tuples) and exceptions (KeyError for a
//! missing metadata key, PermissionError for a second application without force).

use crate::ioctx::Ioctx;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[pymethods]
impl Ioctx {
    /// Enables application ``app_name`` on the pool. A pool that already has another
    /// application refuses a second one (PermissionError) unless ``force`` is true.
    #[pyo3(signature = (app_name, force=false))]
    fn application_enable(&self, py: Python<'_>, app_name: String, force: bool) -> PyResult<()> {
        self.run(
            py,
            |io| io.application_enable(&app_name, force),
            || "error enabling application".into(),
        )
    }

    /// The names of the applications enabled on the pool.
    fn application_list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.run(
            py,
            |io| io.application_list(),
            || "error listing applications".into(),
        )
    }

    /// The value of metadata ``key`` of application ``app_name`` (KeyError when the
    /// application is not enabled or lacks the key).
    fn application_metadata_get(
        &self,
        py: Python<'_>,
        app_name: String,
        key: String,
    ) -> PyResult<String> {
        let io = self.io(py)?;
        match py.detach(|| io.application_metadata_get(&app_name, &key)) {
            Ok(value) => Ok(value),
            Err(librados::Error::NotFound { .. }) => {
                // python-rados names the application by the repr of its UTF-8 bytes.
                let app = PyBytes::new(py, app_name.as_bytes()).repr()?;
                Err(PyKeyError::new_err(format!(
                    "no metadata {key} for application {app}"
                )))
            }
            Err(e) => Err(crate::errors::to_py(
                py,
                &e,
                "error getting application metadata",
            )),
        }
    }

    /// Sets metadata ``key`` of application ``app_name`` to ``value`` (ObjectNotFound when
    /// the application is not enabled).
    fn application_metadata_set(
        &self,
        py: Python<'_>,
        app_name: String,
        key: String,
        value: String,
    ) -> PyResult<()> {
        self.run(
            py,
            |io| io.application_metadata_set(&app_name, &key, &value),
            || "error setting application metadata".into(),
        )
    }

    /// Removes metadata ``key`` of application ``app_name`` (ObjectNotFound when the
    /// application is not enabled; a missing key is no error).
    fn application_metadata_remove(
        &self,
        py: Python<'_>,
        app_name: String,
        key: String,
    ) -> PyResult<()> {
        self.run(
            py,
            |io| io.application_metadata_remove(&app_name, &key),
            || "error removing application metadata".into(),
        )
    }

    /// Application ``app_name``'s metadata as a list of (key, value) tuples (ObjectNotFound
    /// when the application is not enabled).
    fn application_metadata_list(
        &self,
        py: Python<'_>,
        app_name: String,
    ) -> PyResult<Vec<(String, String)>> {
        self.run(
            py,
            |io| io.application_metadata_list(&app_name),
            || "error listing application metadata".into(),
        )
    }
}
