"""What the storage service says about itself (`/storage-info`, `/api/storage`)."""

from pydantic import BaseModel, Field


class StorageInfo(BaseModel):
    backend: str = Field(description="Where evaluations live: database, file, s3 or memory.")
    blob_backend: str = Field(description="Where outputs above the threshold go.")
    location: str = Field(description="The database, directory or bucket, without secrets.")
    blob_threshold_bytes: int
    evaluations: int = Field(description="Stored evaluations, deleted ones included.")
    deleted: int = Field(description="Deleted and waiting to be purged.")
    blobs: int
    blob_bytes: int
