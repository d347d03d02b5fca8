// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title ParticipantRegistry
/// @notice Admin-governed registry of supply-chain participants, their keys, roles and status,
/// with the history needed to judge a signature made at any past block.
contract ParticipantRegistry is IParticipantRegistry, AccessControl {
    using Checkpoints for Checkpoints.Trace208;

    /// @notice May register participants, change their roles and status, and rotate their keys.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_PREFIX_LENGTH = 64;

    /// @dev The hot part of a participant, read on every signed operation: one slot.
    struct State {
        address key;
        uint8 roles;
        bool active;
    }

    uint32 private _count;
    mapping(uint32 id => State) private _states;
    mapping(uint32 id => string) private _names;
    mapping(uint32 id => string) private _prefixes;
    mapping(address key => KeyRecord) private _keys;
    mapping(bytes32 prefixHash => uint32 id) private _prefixOwners;
    /// @dev Per participant, block number => `roles | active << 8`.
    mapping(uint32 id => Checkpoints.Trace208) private _history;

    /// @param admin receives DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert ParticipantRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @inheritdoc IParticipantRegistry
    function register(address key, string calldata name, uint8 roles, string calldata prefix)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint32 id)
    {
        _requireNewKey(key);
        _requireValidRoles(roles);
        uint256 nameLength = bytes(name).length;
        if (nameLength == 0 || nameLength > MAX_NAME_LENGTH) revert ParticipantRegistryInvalidName(nameLength);
        uint256 prefixLength = bytes(prefix).length;
        if (prefixLength > MAX_PREFIX_LENGTH) revert ParticipantRegistryInvalidPrefix(prefixLength);

        id = ++_count;
        if (prefixLength != 0) {
            bytes32 prefixHash = keccak256(bytes(prefix));
            uint32 owner = _prefixOwners[prefixHash];
            if (owner != 0) revert ParticipantRegistryPrefixTaken(owner);
            _prefixOwners[prefixHash] = id;
            _prefixes[id] = prefix;
        }
        _names[id] = name;
        _states[id] = State({key: key, roles: roles, active: true});
        _keys[key] = KeyRecord({participantId: id, validFrom: uint48(block.number), validUntil: 0});
        _checkpoint(id, roles, true);
        emit ParticipantRegistered(id, key, roles, name, prefix);
    }

    /// @inheritdoc IParticipantRegistry
    function setRoles(uint32 id, uint8 roles) external onlyRole(REGISTRAR_ROLE) {
        State storage state = _existing(id);
        _requireValidRoles(roles);
        state.roles = roles;
        _checkpoint(id, roles, state.active);
        emit ParticipantRolesChanged(id, roles);
    }

    /// @inheritdoc IParticipantRegistry
    function suspend(uint32 id) external onlyRole(REGISTRAR_ROLE) {
        State storage state = _existing(id);
        if (!state.active) revert ParticipantRegistryAlreadySuspended(id);
        state.active = false;
        _checkpoint(id, state.roles, false);
        emit ParticipantSuspended(id);
    }

    /// @inheritdoc IParticipantRegistry
    function reactivate(uint32 id) external onlyRole(REGISTRAR_ROLE) {
        State storage state = _existing(id);
        if (state.active) revert ParticipantRegistryNotSuspended(id);
        state.active = true;
        _checkpoint(id, state.roles, true);
        emit ParticipantReactivated(id);
    }

    /// @inheritdoc IParticipantRegistry
    function rotateKey(uint32 id, address newKey) external {
        State storage state = _existing(id);
        address oldKey = state.key;
        // A suspended participant's own key cannot move it: the suspension may be for that key.
        if (!hasRole(REGISTRAR_ROLE, msg.sender) && (msg.sender != oldKey || !state.active)) {
            revert ParticipantRegistryUnauthorizedRotation(id, msg.sender);
        }
        _requireNewKey(newKey);
        state.key = newKey;
        _keys[oldKey].validUntil = uint48(block.number);
        _keys[newKey] = KeyRecord({participantId: id, validFrom: uint48(block.number), validUntil: 0});
        emit KeyRotated(id, oldKey, newKey);
    }

    /// @inheritdoc IParticipantRegistry
    function participant(uint32 id) external view returns (Participant memory) {
        State storage state = _existing(id);
        return Participant({
            id: id, key: state.key, roles: state.roles, active: state.active, name: _names[id], prefix: _prefixes[id]
        });
    }

    /// @inheritdoc IParticipantRegistry
    function participantCount() external view returns (uint32) {
        return _count;
    }

    /// @inheritdoc IParticipantRegistry
    function keyRecord(address key) external view returns (KeyRecord memory) {
        return _keys[key];
    }

    /// @inheritdoc IParticipantRegistry
    function authorize(address key) external view returns (uint32 id, uint8 roles, bool active) {
        KeyRecord storage record = _keys[key];
        id = record.participantId;
        if (id == 0 || record.validUntil != 0) return (0, 0, false);
        State storage state = _states[id];
        return (id, state.roles, state.active);
    }

    /// @inheritdoc IParticipantRegistry
    function statusAt(uint32 id, uint48 blockNumber) public view returns (uint8 roles, bool active) {
        uint208 packed = _history[id].upperLookup(blockNumber);
        // casting to 'uint8' is safe because the low byte of a checkpoint is the role set (see {_checkpoint}).
        // forge-lint: disable-next-line(unsafe-typecast)
        return (uint8(packed), (packed >> 8) & 1 == 1);
    }

    /// @inheritdoc IParticipantRegistry
    function wasAuthorized(address key, uint8 roles, uint48 blockNumber) external view returns (bool) {
        KeyRecord memory record = _keys[key];
        // Id zero means "never registered", not a balance (docs/slither.md).
        // slither-disable-next-line incorrect-equality
        if (record.participantId == 0 || blockNumber < record.validFrom) return false;
        if (record.validUntil != 0 && blockNumber >= record.validUntil) return false;
        (uint8 heldRoles, bool active) = statusAt(record.participantId, blockNumber);
        return active && heldRoles & roles == roles;
    }

    /// @inheritdoc IParticipantRegistry
    function prefixOwner(string calldata prefix) external view returns (uint32) {
        return _prefixOwners[keccak256(bytes(prefix))];
    }

    function _existing(uint32 id) private view returns (State storage state) {
        state = _states[id];
        if (state.key == address(0)) revert ParticipantRegistryUnknownParticipant(id);
    }

    function _requireNewKey(address key) private view {
        if (key == address(0)) revert ParticipantRegistryZeroAddress();
        if (_keys[key].participantId != 0) revert ParticipantRegistryKeyInUse(key);
    }

    function _requireValidRoles(uint8 roles) private pure {
        if (roles == 0 || roles & ~Roles.ALL != 0) revert ParticipantRegistryInvalidRoles(roles);
    }

    function _checkpoint(uint32 id, uint8 roles, bool active) private {
        // The previous and new values that push returns are not needed.
        // slither-disable-next-line unused-return
        _history[id].push(uint48(block.number), uint208(roles) | (active ? uint208(1) << 8 : 0));
    }
}
