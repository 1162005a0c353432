import pytest

from skilldeck.tools.batch import TaskFileError, load_tasks, tasks_from_records


def write(tmp_path, text):
    path = tmp_path / "tasks.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_task_file_that_is_not_json_is_refused_with_its_line_number(tmp_path):
    path = write(tmp_path, '{"id": "a", "text": "x"}\n\n{"id": "b", "text": \n')
    with pytest.raises(TaskFileError, match=r"line 3: not valid JSON"):
        load_tasks(path)


def test_task_without_id_is_refused_with_its_line_number(tmp_path):
    path = write(tmp_path, '{"id": "a", "text": "x"}\n{"text": "no id"}\n')
    with pytest.raises(TaskFileError, match=r"line 2: missing or empty \"id\""):
        load_tasks(path)


def test_duplicate_id_names_both_lines(tmp_path):
    path = write(tmp_path, '{"id": 1, "text": "x"}\n{"id": "2", "text": "y"}\n{"id": "1", "text": "z"}\n')
    with pytest.raises(TaskFileError, match=r"line 3: duplicate id '1' \(first seen at .*line 1\)"):
        load_tasks(path)


def test_non_object_line_and_empty_file_are_refused(tmp_path):
    with pytest.raises(TaskFileError, match="line 1: expected a JSON object"):
        load_tasks(write(tmp_path, "[1, 2]\n"))
    with pytest.raises(TaskFileError, match="holds no tasks"):
        load_tasks(write(tmp_path, "\n\n"))


def test_tasks_keep_fields_and_group_by_shape(tmp_path):
    tasks = load_tasks(write(tmp_path, '{"id": 7, "b": 1, "a": "x"}\n{"id": "q", "a": "y", "b": 2}\n'))
    assert [t.id for t in tasks] == ["7", "q"]
    assert tasks[0].fields == {"b": 1, "a": "x"} and tasks[0].shape == tasks[1].shape == ("a", "b")


def test_inline_tasks_name_the_bad_item_index():
    with pytest.raises(TaskFileError, match=r"task #1: duplicate id 'a'"):
        tasks_from_records([{"id": "a", "x": 1}, {"id": "a", "x": 2}])


def test_a_task_line_nested_past_the_parser_names_its_line(tmp_path):
    from skilldeck.tools.batch.tasks import parse_tasks

    with pytest.raises(TaskFileError, match="line 2: nested too deeply"):
        parse_tasks(['{"id": 1, "text": "a"}', "[" * 100_000 + "]" * 100_000])


def test_a_file_of_millions_of_tiny_tasks_is_refused_and_a_read_keeps_its_call_s_deadline(tmp_path, monkeypatch):
    """100 MB of '{"id":1,"a":1}' lines passed the size bound and held about 4 GB in the server per plan or
    results page (a 20 MB file took 680 MB): the count of tasks is bounded too (red-team finding)."""
    from skilldeck.tools import deadline
    from skilldeck.tools.batch import tasks

    monkeypatch.setattr(tasks, "MAX_TASKS", 100)
    path = write(tmp_path, "".join(f'{{"id": {i}, "a": 1}}\n' for i in range(101)))
    with pytest.raises(TaskFileError, match="more than 100 tasks"):
        load_tasks(path)
    path = write(tmp_path, "".join(f'{{"id": {i}, "a": 1}}\n' for i in range(100)))
    assert len(load_tasks(path)) == 100
    with deadline.deadline(0.0), pytest.raises(deadline.TimeLimitError, match="Reading the tasks"):
        load_tasks(path)
