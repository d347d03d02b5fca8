// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IParticipantRegistry
/// @notice Who may act in the supply chain: organisations with a signing key, roles, an
/// identifier prefix and a status, and the history of all three so that anyone can ask
/// "was this key an active PRODUCER at block N?".
/// @dev Roles are a bit set (see {Roles}). A participant
/// is named by a stable `uint32` id; its key may be rotated, its id never changes, so custody
/// held by an organisation survives a key rotation.
interface IParticipantRegistry {
    /// @notice A participant as the registry keeps it.
    struct Participant {
        uint32 id;
        address key;
        uint8 roles;
        bool active;
        string name;
        string prefix;
    }

    /// @notice Validity of one signing key: it belongs to `participantId` from block `validFrom`
    /// and, once rotated out, until the block before `validUntil` (zero while it is current).
    struct KeyRecord {
        uint32 participantId;
        uint48 validFrom;
        uint48 validUntil;
    }

    /// @dev The zero address cannot be a participant key.
    error ParticipantRegistryZeroAddress();
    /// @dev `key` is, or was, already registered to a participant; keys are never reused.
    error ParticipantRegistryKeyInUse(address key);
    /// @dev No participant has the id `id`.
    error ParticipantRegistryUnknownParticipant(uint32 id);
    /// @dev `roles` is empty or holds bits that name no role.
    error ParticipantRegistryInvalidRoles(uint8 roles);
    /// @dev The name is empty or longer than the registry allows.
    error ParticipantRegistryInvalidName(uint256 length);
    /// @dev The identifier prefix is longer than the registry allows.
    error ParticipantRegistryInvalidPrefix(uint256 length);
    /// @dev The identifier prefix is already owned by participant `owner`.
    error ParticipantRegistryPrefixTaken(uint32 owner);
    /// @dev The participant is already suspended.
    error ParticipantRegistryAlreadySuspended(uint32 id);
    /// @dev The participant is not suspended.
    error ParticipantRegistryNotSuspended(uint32 id);
    /// @dev `caller` is neither a registrar nor the current key of the active participant.
    error ParticipantRegistryUnauthorizedRotation(uint32 id, address caller);

    /// @notice A participant was registered.
    event ParticipantRegistered(uint32 indexed id, address indexed key, uint8 roles, string name, string prefix);
    /// @notice A participant's roles were replaced by `roles`.
    event ParticipantRolesChanged(uint32 indexed id, uint8 roles);
    /// @notice A participant was suspended: its signatures are refused until it is reactivated.
    event ParticipantSuspended(uint32 indexed id);
    /// @notice A suspended participant was reactivated.
    event ParticipantReactivated(uint32 indexed id);
    /// @notice `newKey` took over from `oldKey`; signatures by `oldKey` are refused from now on.
    event KeyRotated(uint32 indexed id, address indexed oldKey, address indexed newKey);

    /// @notice Registers a participant and returns its id.
    /// Requirements: caller has REGISTRAR_ROLE; `key` is new and not zero; `roles` valid;
    /// `name` 1..64 bytes; `prefix` at most 64 bytes and, when not empty, not owned yet.
    /// Emits: {ParticipantRegistered}.
    function register(address key, string calldata name, uint8 roles, string calldata prefix)
        external
        returns (uint32 id);

    /// @notice Replaces a participant's roles.
    /// Requirements: caller has REGISTRAR_ROLE; the participant exists; `roles` valid.
    /// Emits: {ParticipantRolesChanged}.
    function setRoles(uint32 id, uint8 roles) external;

    /// @notice Suspends a participant.
    /// Requirements: caller has REGISTRAR_ROLE; the participant exists and is active.
    /// Emits: {ParticipantSuspended}.
    function suspend(uint32 id) external;

    /// @notice Reactivates a suspended participant.
    /// Requirements: caller has REGISTRAR_ROLE; the participant exists and is suspended.
    /// Emits: {ParticipantReactivated}.
    function reactivate(uint32 id) external;

    /// @notice Moves a participant to a new signing key; the old key is refused from this block on.
    /// Requirements: caller has REGISTRAR_ROLE, or is the current key of the participant while it
    /// is active (a suspended participant's key cannot rotate itself); `newKey` new and not zero.
    /// Emits: {KeyRotated}.
    function rotateKey(uint32 id, address newKey) external;

    /// @notice The participant with id `id` (reverts when unknown).
    function participant(uint32 id) external view returns (Participant memory);

    /// @notice How many participants were ever registered (ids run from 1 to this number).
    function participantCount() external view returns (uint32);

    /// @notice The validity record of `key` (all zero when it was never registered).
    function keyRecord(address key) external view returns (KeyRecord memory);

    /// @notice The participant that `key` signs for now, with its current roles and status.
    /// @return id zero when `key` is unknown or was rotated out.
    function authorize(address key) external view returns (uint32 id, uint8 roles, bool active);

    /// @notice The participant's roles and status as they stood at the end of block `blockNumber`.
    function statusAt(uint32 id, uint48 blockNumber) external view returns (uint8 roles, bool active);

    /// @notice Whether `key` was, at the end of block `blockNumber`, the valid key of an active
    /// participant holding every role in `roles`.
    function wasAuthorized(address key, uint8 roles, uint48 blockNumber) external view returns (bool);

    /// @notice The id of the participant owning identifier prefix `prefix` (zero when none).
    function prefixOwner(string calldata prefix) external view returns (uint32);
}
