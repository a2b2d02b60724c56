# The errors of one app to a measurement of their own (error_checkout),
# the measurement they came with kept as the tag source_measurement.
# Install it as <app_id>_error.jq (appid_7c1e0b9a4f2d4e8c9b6a5d3f1e2c4b7a_error.jq
# for the app of the test batch): it then runs on that app's error records
# alone, before error.jq or default.jq.
.tags.source_measurement = .measurement
| .measurement = "error_checkout"
