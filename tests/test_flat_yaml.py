"""The fast reading of MLflow's ``meta.yaml`` shapes: the same mapping PyYAML reads, or it
leaves the file to PyYAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.filestore.files import read_yaml
from mlmigrate.stores.filestore.flat_yaml import flat_yaml

READ_FAST = [
    "artifact_location: file:///tmp/mlruns/1\ncreation_time: 1700004000000\nexperiment_id: '1'\n",
    "run_id: 043bba6cf86f4e5daaf833ecd3adc5a9\nsource_name: ''\ntags: []\nstatus: 3\nend_time: null\n",
    "digest: 54c77c1b\nvalue: 'it''s'\nnegative: -5\nzero: 0\nexp: 1e5\n",
    "tags:\n  mlflow.data.context: training\nsource_id: abc\n",
    "trace_location:\n  mlflow_experiment:\n    experiment_id: '7'\n  type: MLFLOW_EXPERIMENT\nstate: OK\n",
    "empty:\nnext: x\n",
]

LEFT_TO_YAML = [
    "flag: yes\n",  # a YAML 1.1 boolean
    "number: 0777\n",  # octal
    "number: 0b11\n",  # binary
    "number: 1_000\n",
    "when: 2001-01-01\n",  # a date
    "time: 12:30\n",  # sexagesimal
    "value: .inf\n",
    "value: ~\n",
    "name: two words\n",
    "# a comment\na: 1\n",
    "a: 1 # a comment\n",
    "a: b\r\n",
    "a:\n    b: 1\n",  # nested four spaces in
    "list:\n- 1\n- 2\n",
    "text: 'first\n  second'\n",  # quoted text over two lines
    "",
]


@pytest.mark.parametrize("text", READ_FAST, ids=range(len(READ_FAST)))
def test_mlflow_shapes_are_read_as_pyyaml_reads_them(text: str) -> None:
    assert flat_yaml(text) is not None
    assert flat_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", LEFT_TO_YAML, ids=range(len(LEFT_TO_YAML)))
def test_other_shapes_are_left_to_pyyaml(text: str) -> None:
    assert flat_yaml(text) is None


def test_a_malformed_file_still_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text("name: a\nbroken: [1, 2\nother: b\n")

    with pytest.raises(SourceFormatError) as raised:
        read_yaml(path)

    assert raised.value.path == str(path)
    assert raised.value.line is not None
