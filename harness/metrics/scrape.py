#!/usr/bin/env python3
"""Scrapes a /metrics URL and parses it with the Prometheus project's own Python parser for
the OpenMetrics text format (prometheus_client.openmetrics.parser), which refuses anything
malformed: a missing # EOF, a bad type, a sample that does not belong to its family, a label
value that is not escaped. Prints the samples as one JSON document:
{"content_type": ..., "families": {name: type}, "samples": [{"name", "labels", "value"}]}.

  scrape.py http://127.0.0.1:9464/metrics
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode("utf-8")
    families, samples = {}, []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for s in family.samples:
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    print(json.dumps({"content_type": content_type, "families": families, "samples": samples}))


if __name__ == "__main__":
    main()
