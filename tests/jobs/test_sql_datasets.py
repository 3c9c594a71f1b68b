"""Dataset uploads: read by DuckDB at upload, stored under the account's directory; a refused
upload leaves nothing behind. Access against all four actors."""

from pathlib import Path

import pytest

from jobs.models import Dataset
from tests.jobs.test_sql_support import csv_bytes, parquet_bytes, upload, use_media_root

SALES = csv_bytes(["region", "amount", "day"],
                  [["north", 10, "2024-01-02"], ["south", 5, "2024-01-03"]])


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    use_media_root(settings, tmp_path)
    return tmp_path / "media"


@pytest.fixture
def dataset(member):
    response = upload(member, "sales", "sales.csv", SALES)
    assert response.status_code == 201, response.json()
    return Dataset.objects.get(pk=response.json()["id"])


def stored_files(media):
    return sorted(p for p in Path(media).rglob("*") if p.is_file())


def test_a_csv_upload_is_registered_with_columns_types_and_row_count(member, media):
    response = upload(member, "sales", "sales.csv", SALES)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "sales" and body["row_count"] == 2 and body["format"] == "csv"
    assert body["columns"] == [{"name": "region", "type": "VARCHAR"},
                               {"name": "amount", "type": "BIGINT"},
                               {"name": "day", "type": "DATE"}]
    (stored,) = stored_files(media)
    assert stored.parent == media / "datasets" / str(member.account.pk)
    assert stored.read_bytes() == SALES
    assert Dataset.objects.get(pk=body["id"]).size == len(SALES)


def test_a_parquet_upload_is_recognised_without_an_extension(member):
    data = parquet_bytes({"id": [1, 2, 3], "score": [0.5, 1.5, 2.5]})
    response = upload(member, "scores", "blob", data)

    assert response.status_code == 201, response.json()
    assert response.json()["format"] == "parquet"
    assert response.json()["row_count"] == 3
    assert [c["type"] for c in response.json()["columns"]] == ["BIGINT", "DOUBLE"]


BAD_FILES = {
    "garbage parquet": ("x.parquet", b"PAR1 this is not parquet"),
    "binary noise as csv": ("x.csv", bytes(range(256)) * 20),
    "rows that do not match the header": ("x.csv", b"a,b\n1,2\n3,4,5\n"),
    "a bad row far down": ("x.csv", csv_bytes(["a", "b"], [[n, n] for n in range(5000)])
                           + b"1,2,3\n"),
    "not utf-8": ("x.csv", b"a,b\n1,\xff\xfe\n"),
    "empty": ("x.csv", b""),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_malformed_file_is_a_400_and_nothing_is_registered(member, media, case):
    filename, data = BAD_FILES[case]
    response = upload(member, "broken", filename, data)

    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["file"]
    assert not Dataset.objects.exists()
    assert stored_files(media) == []


def test_a_file_over_the_size_limit_is_a_400_and_nothing_is_registered(member, media,
                                                                        settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_DATASET_BYTES": 100}
    response = upload(member, "big", "big.csv", csv_bytes(["a"], [[n] for n in range(100)]))

    assert response.status_code == 400
    assert "limit" in response.json()["errors"]["file"][0]
    assert not Dataset.objects.exists() and stored_files(media) == []


@pytest.mark.parametrize("name", ["Sales", "sales"])
def test_a_taken_name_is_a_400_whatever_its_case(member, dataset, media, name):
    response = upload(member, name, "again.csv", SALES)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    assert len(stored_files(media)) == 1


@pytest.mark.parametrize("name", ["1st", "drop table", "a-b", ""])
def test_a_name_must_be_a_sql_identifier(member, name):
    response = upload(member, name, "x.csv", SALES)
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_deleting_a_dataset_removes_its_file_once_committed(
        admin, dataset, media, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.client.delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    assert not Dataset.objects.exists()
    assert stored_files(media) == []


def test_only_name_and_description_change(admin, dataset):
    response = admin.client.patch(f"/api/v1/datasets/{dataset.pk}/", {
        "name": "sales_2024", "row_count": 99, "description": "Q1"}, format="json")
    assert response.status_code == 200
    dataset.refresh_from_db()
    assert (dataset.name, dataset.description, dataset.row_count) == ("sales_2024", "Q1", 2)


DATASET_ACCESS = {  # list, detail, upload, update, delete of acme's dataset
    "admin": (200, 200, 201, 200, 204),
    "member": (200, 200, 201, 403, 403),
    "reader": (200, 200, 403, 403, 403),
    "outsider": (200, 404, 201, 404, 404),
}


@pytest.mark.parametrize("who", list(DATASET_ACCESS))
def test_dataset_access(actors, dataset, who):
    client, url = actors[who].client, f"/api/v1/datasets/{dataset.pk}/"
    listed = client.get("/api/v1/datasets/")
    statuses = (
        listed.status_code, client.get(url).status_code,
        upload(actors[who], f"mine_{who}", "m.csv", SALES).status_code,
        client.patch(url, {"description": "x"}, format="json").status_code,
        client.delete(url).status_code,
    )
    assert statuses == DATASET_ACCESS[who]
    names = {d["name"] for d in listed.json()["results"]}
    assert ("sales" in names) == (who != "outsider")


def test_listing_datasets_takes_a_fixed_number_of_queries(member, warm_process,
                                                           django_assert_num_queries):
    for n in range(8):
        assert upload(member, f"d{n}", "d.csv", SALES).status_code == 201
    warm_process(member)
    with django_assert_num_queries(1):  # the page
        body = member.client.get("/api/v1/datasets/").json()
    assert len(body["results"]) == 8
    assert {d["created_by"] for d in body["results"]} == {"member@acme.test"}


def test_a_dataset_is_found_by_its_name_ignoring_case(member, outsider, dataset,
                                                      django_assert_num_queries, warm_process):
    assert upload(member, "other", "o.csv", SALES).status_code == 201
    warm_process(member)
    with django_assert_num_queries(1):
        found = member.client.get("/api/v1/datasets/?name=SALES").json()["results"]
    assert [d["id"] for d in found] == [dataset.pk]
    assert outsider.client.get("/api/v1/datasets/?name=sales").json()["results"] == []


def test_a_name_clash_names_the_existing_dataset(member, dataset):
    response = upload(member, "SALES", "sales.csv", SALES)
    assert response.status_code == 400
    assert response.json()["errors"]["name"] == [
        "A dataset named 'sales' already exists (names are case-insensitive)."]
