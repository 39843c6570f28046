import Foundation
import StewardCore
import StewardTelemetry
import Testing

/// Structural tests against the OTLP specification's own JSON examples.
///
/// The two examples below are copied verbatim from the opentelemetry-proto repository:
/// `examples/logs.json` (commit 36ea555013eacfbe68fc479014d3532e4650af8e) and
/// `examples/metrics.json` (commit 2487cf36c9a3a377840dde91043bdb90df06df01), referenced by
/// `docs/specification.md`, "JSON Protobuf Encoding". The examples write 64-bit integers as JSON
/// numbers and ids in uppercase; the specification says 64-bit integers are decimal strings (either
/// is accepted when decoding) and ids are case-insensitive hex, so Steward writes strings and
/// lowercase. Everything else — key names, nesting, value kinds — must match.
@Suite struct OTLPSpecExampleTests {
    static let logsExample = #"""
        {
          "resourceLogs": [
            {
              "resource": {
                "attributes": [
                  {
                    "key": "service.name",
                    "value": {
                      "stringValue": "my.service"
                    }
                  }
                ]
              },
              "scopeLogs": [
                {
                  "scope": {
                    "name": "my.library",
                    "version": "1.0.0",
                    "attributes": [
                      {
                        "key": "my.scope.attribute",
                        "value": {
                          "stringValue": "some scope attribute"
                        }
                      }
                    ]
                  },
                  "logRecords": [
                    {
                      "timeUnixNano": 1544712660300000000,
                      "observedTimeUnixNano": 1544712660300000000,
                      "severityText": "Information",
                      "traceId": "5B8EFFF798038103D269B633813FC60C",
                      "spanId": "EEE19B7EC3C1B174",
                      "body": {
                        "stringValue": "Example log record"
                      },
                      "attributes": [
                        {
                          "key": "string.attribute",
                          "value": {
                            "stringValue": "some string"
                          }
                        },
                        {
                          "key": "boolean.attribute",
                          "value": {
                            "boolValue": true
                          }
                        },
                        {
                          "key": "int.attribute",
                          "value": {
                            "intValue": 10
                          }
                        },
                        {
                          "key": "double.attribute",
                          "value": {
                            "doubleValue": 637.704
                          }
                        },
                        {
                          "key": "array.attribute",
                          "value": {
                            "arrayValue": {
                              "values": [
                                {
                                  "stringValue": "many"
                                },
                                {
                                  "stringValue": "values"
                                }
                              ]
                            }
                          }
                        },
                        {
                          "key": "map.attribute",
                          "value": {
                            "kvlistValue": {
                              "values": [
                                {
                                  "key": "some.map.key",
                                  "value": {
                                    "stringValue": "some value"
                                  }
                                }
                              ]
                            }
                          }
                        }
                      ]
                    }
                  ]
                }
              ]
            }
          ]
        }
        """#

    static let metricsExample = #"""
        {
          "resourceMetrics": [
            {
              "resource": {
                "attributes": [
                  {
                    "key": "service.name",
                    "value": {
                      "stringValue": "my.service"
                    }
                  }
                ]
              },
              "scopeMetrics": [
                {
                  "scope": {
                    "name": "my.library",
                    "version": "1.0.0",
                    "attributes": [
                      {
                        "key": "my.scope.attribute",
                        "value": {
                          "stringValue": "some scope attribute"
                        }
                      }
                    ]
                  },
                  "metrics": [
                    {
                      "name": "my.counter",
                      "unit": "1",
                      "description": "I`m a Counter",
                      "sum": {
                        "aggregationTemporality": 1,
                        "isMonotonic": true,
                        "dataPoints": [
                          {
                            "asDouble": 5,
                            "startTimeUnixNano": 1544712660300000000,
                            "timeUnixNano": 1544712660300000000,
                            "attributes": [
                              {
                                "key": "my.counter.attr",
                                "value": {
                                  "stringValue": "some value"
                                }
                              }
                            ]
                          }
                        ]
                      }
                    },
                    {
                      "name": "my.gauge",
                      "unit": "1",
                      "description": "I`m a Gauge",
                      "gauge": {
                        "dataPoints": [
                          {
                            "asDouble": 10,
                            "timeUnixNano": 1544712660300000000,
                            "attributes": [
                              {
                                "key": "my.gauge.attr",
                                "value": {
                                  "stringValue": "some value"
                                }
                              }
                            ]
                          }
                        ]
                      }
                    },
                    {
                      "name": "my.histogram",
                      "unit": "1",
                      "description": "I`m a Histogram",
                      "histogram": {
                        "aggregationTemporality": 1,
                        "dataPoints": [
                          {
                            "startTimeUnixNano": 1544712660300000000,
                            "timeUnixNano": 1544712660300000000,
                            "count": 3,
                            "sum": 3,
                            "bucketCounts": [1,1,1],
                            "explicitBounds": [1],
                            "min": 1,
                            "max": 1,
                            "attributes": [
                              {
                                "key": "my.histogram.attr",
                                "value": {
                                  "stringValue": "some value"
                                }
                              }
                            ]
                          }
                        ]
                      }
                    }
                  ]
                }
              ]
            }
          ]
        }
        """#

    /// Fields that are 64-bit integers in the proto: decimal strings in Steward's output, numbers
    /// in the examples.
    static let int64Fields: Set<String> = [
        "timeUnixNano", "observedTimeUnixNano", "startTimeUnixNano", "intValue", "count",
        "bucketCounts",
    ]
    /// Fields Steward writes that the examples do not show: `eventName` is LogRecord field 12
    /// (`string event_name = 12;` in opentelemetry/proto/logs/v1/logs.proto), newer than the example.
    static let fieldsBeyondTheExamples: Set<String> = ["eventName", "severityNumber"]

    private static func decode(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    /// Merges the elements of an example array into one template: the union of their keys.
    private static func template(_ elements: [Any]) -> Any? {
        guard let first = elements.first else { return nil }
        guard first is [String: Any] else { return first }
        var merged: [String: Any] = [:]
        for case let dictionary as [String: Any] in elements {
            for (key, value) in dictionary {
                if let existing = merged[key] as? [String: Any], let more = value as? [String: Any] {
                    merged[key] = template([existing, more])
                } else if let existing = merged[key] as? [Any], let more = value as? [Any] {
                    merged[key] = existing + more
                } else if merged[key] == nil {
                    merged[key] = value
                }
            }
        }
        return merged
    }

    private enum Kind: Equatable { case object, array, string, number, bool }

    private static func kind(_ value: Any) -> Kind {
        switch value {
        case is [String: Any]: return .object
        case is [Any]: return .array
        case is String: return .string
        case let number as NSNumber:
            // JSONSerialization gives booleans as NSNumbers of Objective-C type `c` (char).
            return String(cString: number.objCType) == "c" ? .bool : .number
        default: return .string
        }
    }

    /// Records, as "path: problem", every way `ours` departs from the shape of `example`.
    private static func compare(_ ours: Any, _ example: Any, path: String, field: String, problems: inout [String]) {
        switch (ours, example) {
        case (let ours as [String: Any], let example as [String: Any]):
            for (key, value) in ours {
                guard let expected = example[key] else {
                    if !fieldsBeyondTheExamples.contains(key) { problems.append("\(path).\(key): not in the example") }
                    continue
                }
                compare(value, expected, path: "\(path).\(key)", field: key, problems: &problems)
            }
        case (let ours as [Any], let example as [Any]):
            guard let expected = template(example) else { return }
            for (index, element) in ours.enumerated() {
                compare(element, expected, path: "\(path)[\(index)]", field: field, problems: &problems)
            }
        default:
            let (mine, theirs) = (kind(ours), kind(example))
            if int64Fields.contains(field) {
                if mine != .string { problems.append("\(path): a 64-bit integer must be a decimal string") }
                if let text = ours as? String, Int64(text) == nil && UInt64(text) == nil {
                    problems.append("\(path): not decimal")
                }
            } else if mine != theirs {
                problems.append("\(path): \(mine) where the example has \(theirs)")
            }
        }
    }

    private static let resource = TelemetryResource(
        serviceName: "my.service", serviceVersion: "1.0", osVersion: "12", hostArch: "arm64")

    @Test func logsFollowTheShapeOfTheSpecificationExample() throws {
        let record = TelemetryEventRecord(
            name: "my.event", purpose: .analytics, category: .usageEvents, timeUnixNano: 1_544_712_660_300_000_000,
            observedTimeUnixNano: 1_544_712_660_300_000_000,
            attributes: [
                "string.attribute": .string("some string"), "boolean.attribute": .bool(true), "int.attribute": .int(10),
                "double.attribute": .double(637.704),
            ],
            traceID: "5B8EFFF798038103D269B633813FC60C", spanID: "EEE19B7EC3C1B174")
        let encoded = OTLPEncoder().logs(
            resource: Self.resource, scope: (name: "my.library", version: "1.0.0"), records: [record])
        let ours = try JSONSerialization.jsonObject(with: Data(encoded))
        var problems: [String] = []
        Self.compare(ours, try Self.decode(Self.logsExample), path: "$", field: "", problems: &problems)
        #expect(problems == [])

        let logRecord = try #require(try otlpLogRecords(encoded).first)
        #expect(
            Set(logRecord.keys) == [
                "timeUnixNano", "observedTimeUnixNano", "severityNumber", "eventName", "attributes",
                "traceId", "spanId",
            ])
        #expect(logRecord["timeUnixNano"] as? String == "1544712660300000000")
        #expect(logRecord["traceId"] as? String == "5b8efff798038103d269b633813fc60c")
        let attributes = try #require(logRecord["attributes"] as? [[String: Any]])
        let intValue = attributes.first { $0["key"] as? String == "int.attribute" }?["value"] as? [String: Any]
        #expect(intValue?["intValue"] as? String == "10")
    }

    @Test func metricsFollowTheShapeOfTheSpecificationExample() throws {
        let metrics = [
            TelemetryMetric(
                name: "my.counter", description: "I`m a Counter", purpose: .analytics,
                attributes: ["my.counter.attr": .string("some value")],
                startTimeUnixNano: 1_544_712_660_300_000_000, timeUnixNano: 1_544_712_660_300_000_000,
                data: .sum(value: 5, isMonotonic: true, isDelta: true)),
            TelemetryMetric(
                name: "my.gauge", description: "I`m a Gauge", purpose: .analytics,
                attributes: ["my.gauge.attr": .string("some value")],
                startTimeUnixNano: 1_544_712_660_300_000_000, timeUnixNano: 1_544_712_660_300_000_000,
                data: .gauge(value: 10)),
            TelemetryMetric(
                name: "my.histogram", description: "I`m a Histogram", purpose: .analytics,
                attributes: ["my.histogram.attr": .string("some value")],
                startTimeUnixNano: 1_544_712_660_300_000_000, timeUnixNano: 1_544_712_660_300_000_000,
                data: .histogram(
                    count: 3, sum: 3, min: 1, max: 1, explicitBounds: [1, 2], bucketCounts: [1, 1, 1], isDelta: true)),
        ]
        let encoded = OTLPEncoder().metrics(
            resource: Self.resource, scope: (name: "my.library", version: "1.0.0"), metrics: metrics)
        let ours = try JSONSerialization.jsonObject(with: Data(encoded))
        var problems: [String] = []
        Self.compare(ours, try Self.decode(Self.metricsExample), path: "$", field: "", problems: &problems)
        #expect(problems == [])

        // The same keys as the example at every metric, kind and point (the example is complete there).
        let root = try #require(ours as? [String: Any])
        let written = try #require(
            ((root["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"] as? [[String: Any]])?
                .first?["metrics"] as? [[String: Any]])
        #expect(
            written.map { Set($0.keys) } == [
                ["name", "unit", "description", "sum"], ["name", "unit", "description", "gauge"],
                ["name", "unit", "description", "histogram"],
            ])
        let histogram = try #require(written[2]["histogram"] as? [String: Any])
        let point = try #require((histogram["dataPoints"] as? [[String: Any]])?.first)
        #expect(
            Set(point.keys) == [
                "startTimeUnixNano", "timeUnixNano", "count", "sum", "bucketCounts", "explicitBounds", "min", "max",
                "attributes",
            ])
    }

    @Test func theComparisonCatchesADeparture() throws {
        // Guards the guard: a snake_case key and a numeric timestamp are reported.
        let wrong = try Self.decode(#"{"resourceLogs":[{"scope_logs":[],"resource":{"attributes":[]}}]}"#)
        var problems: [String] = []
        Self.compare(wrong, try Self.decode(Self.logsExample), path: "$", field: "", problems: &problems)
        #expect(problems == ["$.resourceLogs[0].scope_logs: not in the example"])
        let numeric = try Self.decode(#"{"timeUnixNano":1}"#)
        problems = []
        Self.compare(numeric, try Self.decode(#"{"timeUnixNano":1}"#), path: "$", field: "", problems: &problems)
        #expect(problems == ["$.timeUnixNano: a 64-bit integer must be a decimal string"])
    }
}
