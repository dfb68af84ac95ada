"""数据上传: drop deliveries, preview them, confirm the load (dashboard/upload.py)."""
from dashboard import upload

upload.page()
