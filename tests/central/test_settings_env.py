import pytest

from central.env import env_bool, env_int, env_list


def test_env_bool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False


def test_env_bool_rejects_garbage_naming_the_variable(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ValueError, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_NUM", "12")
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,,")
    assert env_int("X_NUM", 1) == 12
    assert env_list("X_HOSTS") == ["a.example", "b.example"]
    monkeypatch.setenv("X_NUM", "twelve")
    with pytest.raises(ValueError, match="X_NUM"):
        env_int("X_NUM", 1)
