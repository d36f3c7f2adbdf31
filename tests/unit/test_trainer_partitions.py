"""TWINCAST_TRAINER_PARTITIONS: which events partitions the trainer reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from foundation.errors import TopicError
from foundation.settings.trainer import TrainerSettings
from trainer.partitions import chosen_partitions


def test_all_is_every_partition_the_topic_has() -> None:
    assert chosen_partitions("all", {3, 0, 2, 1}, "events") == [0, 1, 2, 3]


def test_a_count_is_the_first_partitions_and_stays_so_when_the_topic_grows() -> None:
    assert chosen_partitions("2", range(4), "events") == [0, 1]
    assert chosen_partitions("2", range(12), "events") == [0, 1]


def test_a_list_names_partitions() -> None:
    assert chosen_partitions("3,1", range(4), "events") == [1, 3]
    assert chosen_partitions("list:2", range(4), "events") == [2]


@pytest.mark.parametrize("spec", ["5", "1,4", "list:4"])
def test_a_partition_the_topic_lacks_is_an_error(spec: str) -> None:
    with pytest.raises(TopicError, match="TWINCAST_TRAINER_PARTITIONS"):
        chosen_partitions(spec, range(4), "events")


@pytest.mark.parametrize("spec", ["", "some", "1,", "-1", "list:", "0 ,1", "0", "007"])
def test_the_setting_refuses_what_is_not_a_partition_choice(spec: str) -> None:
    with pytest.raises(ValidationError):
        TrainerSettings(trainer_partitions=spec)
