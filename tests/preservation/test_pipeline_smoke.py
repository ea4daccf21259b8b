"""The whole chain of micro-services, in the DAG's order, makes a valid stored AIP."""

import bagit

from tests.conftest import STAGES


def test_a_folder_transfer_becomes_a_valid_stored_bag(home, make_transfer, new_package, run_until):
    source = make_transfer({"a b.txt": "hello", "sub/é.txt": "world"})
    package = new_package(source, "automated")
    results = run_until(package, source, STAGES[-2])
    stored = results["store_aip"].aip_path
    bagit.Bag(stored).validate()
    assert results["store_aip"].fixity["success"] is True
