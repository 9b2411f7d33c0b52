"""Exporting the student folder as a zip."""

import io
import zipfile

import pytest

from distill_core.core.errors import DistillLabError
from distill_core.runs import export, store


def test_student_zip_holds_the_save_pretrained_folder(home_with_run):
    data = export.model_zip(home_with_run, "student")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "student/config.json" in names and "student/model.safetensors" in names
    assert any(n.startswith("student/tokenizer") for n in names)


def test_a_run_without_a_student_or_a_bad_variant_is_refused(isolated_home):
    record = store.create_run({"name": "empty"})
    with pytest.raises(DistillLabError, match="no saved student"):
        export.model_zip(record.id)
    with pytest.raises(DistillLabError) as err:
        export.model_zip(record.id, "teacher")
    assert err.value.field == "variant"
