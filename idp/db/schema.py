"""Every table campus-idp keeps, in one list: what Alembic migrates and the tests compare.

A model module not imported here would be invisible to autogenerate and to the check that the
migrations and the models agree, so each new model module is added to this list.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import directory.last_known_schema  # noqa: F401 - registers its table on DirectoryBase
import idp.db.activation  # noqa: F401 - registers its table on Base
import idp.db.admin_models  # noqa: F401 - registers its tables on Base
import idp.db.mfa_models  # noqa: F401 - registers its tables on Base
import idp.db.release_models  # noqa: F401 - registers its table on Base
import idp.db.upstream_models  # noqa: F401 - registers its table on Base
from directory.local_schema import DirectoryBase
from idp.db.models import Base

METADATA: list[MetaData] = [Base.metadata, DirectoryBase.metadata]


def table_names() -> set[str]:
    return {name for metadata in METADATA for name in metadata.tables}
