"""全市总览 (a city deployment, 市级管理员 / 市领导): the counties ranked and compared, the city's map; a county drills
into the county pages."""
from dashboard import city

city.overview()
