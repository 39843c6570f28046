/// A profile value that was either read or could not be, with the reason.
///
/// Every field of ``DeviceProfile`` is a `Field`: reading a device never fails as a whole,
/// and a value that is missing always says why (file missing, not UTF-8, unsupported by the
/// driver...). Encodes as `{"value": …}` or `{"unavailable": "reason"}`.
///
/// ```swift
/// switch profile.hardware.model {
/// case .value(let model): print(model)
/// case .unavailable(let reason): print("model unknown: \(reason)")
/// }
/// ```
public enum Field<Value> {
    /// The value that was read.
    case value(Value)
    /// The value could not be read; the reason says why, in words a person can act on.
    case unavailable(reason: String)

    /// The value, or `nil` when it is unavailable.
    public var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }

    /// The reason the value is unavailable, or `nil` when it was read.
    public var unavailableReason: String? {
        if case .unavailable(let reason) = self { return reason }
        return nil
    }

    /// Transforms a read value, keeping an unavailable reason as it is.
    ///
    /// - Parameter transform: Applied to the value when there is one.
    /// - Returns: The transformed field.
    public func map<Other>(_ transform: (Value) -> Other) -> Field<Other> {
        switch self {
        case .value(let value): return .value(transform(value))
        case .unavailable(let reason): return .unavailable(reason: reason)
        }
    }

    /// Transforms a read value into another field, which may itself be unavailable.
    ///
    /// - Parameter transform: Applied to the value when there is one.
    /// - Returns: The resulting field.
    public func flatMap<Other>(_ transform: (Value) -> Field<Other>) -> Field<Other> {
        switch self {
        case .value(let value): return transform(value)
        case .unavailable(let reason): return .unavailable(reason: reason)
        }
    }
}

extension Field: Sendable where Value: Sendable {}
extension Field: Equatable where Value: Equatable {}
extension Field: Hashable where Value: Hashable {}

extension Field: Codable where Value: Codable {
    private enum CodingKeys: String, CodingKey {
        case value
        case unavailable
    }

    /// Decodes `{"value": …}` or `{"unavailable": "reason"}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let reason = try container.decodeIfPresent(String.self, forKey: .unavailable) {
            self = .unavailable(reason: reason)
        } else {
            self = .value(try container.decode(Value.self, forKey: .value))
        }
    }

    /// Encodes `{"value": …}` or `{"unavailable": "reason"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .value(let value): try container.encode(value, forKey: .value)
        case .unavailable(let reason): try container.encode(reason, forKey: .unavailable)
        }
    }
}
