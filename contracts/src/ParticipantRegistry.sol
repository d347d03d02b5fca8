// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Identifiers} from "./libraries/Identifiers.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title ParticipantRegistry
/// @notice Admin-governed registry of supply-chain participants, their keys, roles and status,
/// with the history needed to judge a signature made at any past block; and the identifier
/// authority: prefix ranges delegated to nodes, prefixes licensed to participants.
/// @dev Licences never overlap: no held licence is a prefix of another (GS1: any shorter digit
/// string; handles: whole dot-separated groups). Each prefix counts the held licences strictly
/// under it, so granting checks the prefix's ancestors and its own counter, O(prefix length)
/// and not O(licences). Ranges obey the same rule with counters of their own.
contract ParticipantRegistry is IParticipantRegistry, AccessControl {
    using Checkpoints for Checkpoints.Trace208;

    /// @notice May register participants, change their roles and status, and rotate their keys.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_PREFIX_LENGTH = 64;
    uint256 public constant MAX_URL_LENGTH = 256;

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
    /// @dev Per participant, block number => `roles | active << 8`.
    mapping(uint32 id => Checkpoints.Trace208) private _history;
    /// @dev The registrar (node) that registered each participant.
    mapping(uint32 id => address) private _registrars;
    /// @dev Per prefix key ({Identifiers-key}): its latest licence, one slot read per new batch.
    mapping(bytes32 prefixKey => Licence) private _currentLicences;
    /// @dev Per prefix key: every licence, oldest first (the last one is the current one).
    mapping(bytes32 prefixKey => Licence[]) private _licenceHistory;
    /// @dev Per prefix key: the registrar that granted its held licence.
    mapping(bytes32 prefixKey => address) private _licensors;
    /// @dev Per prefix key: how many held licences lie strictly under it.
    mapping(bytes32 prefixKey => uint256) private _licencesUnder;
    /// @dev Per prefix key: the registrar holding it as a range.
    mapping(bytes32 prefixKey => address) private _ranges;
    /// @dev Per prefix key: how many delegated ranges lie strictly under it.
    mapping(bytes32 prefixKey => uint256) private _rangesUnder;
    /// @dev Registrars whose participants may create batches with identifiers of no prefix kind.
    mapping(address registrar => bool) private _open;
    /// @dev Per registrar: the keys of its delegated ranges, in no particular order.
    mapping(address registrar => bytes32[]) private _rangeKeys;
    /// @dev Per delegated range key: its kind and prefix, and its index in `_rangeKeys` plus one.
    mapping(bytes32 rangeKey => Range) private _rangeOf;
    mapping(bytes32 rangeKey => uint256) private _rangeSlot;
    uint32 private _nodeCount;
    mapping(uint32 id => address) private _nodeOperators;
    mapping(uint32 id => string) private _nodeUrls;
    mapping(address registrar => uint32) private _nodeIds;

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

        id = ++_count;
        _names[id] = name;
        _states[id] = State({key: key, roles: roles, active: true});
        _keys[key] = KeyRecord({participantId: id, validFrom: uint48(block.number), validUntil: 0});
        _registrars[id] = msg.sender;
        _checkpoint(id, roles, true);
        emit ParticipantRegistered(id, key, roles, name, prefix);
        if (bytes(prefix).length != 0) {
            _prefixes[id] = prefix;
            _license(id, _kindOf(bytes(prefix)), prefix, 0, 0);
        }
    }

    /// @inheritdoc IParticipantRegistry
    function delegate(address registrar, uint8 kind, string calldata prefix) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (registrar == address(0)) revert ParticipantRegistryZeroAddress();
        bytes calldata raw = bytes(prefix);
        if (!Identifiers.isValidPrefix(kind, raw, true)) revert ParticipantRegistryInvalidPrefix(kind, prefix);
        bytes32 rangeKey = Identifiers.key(kind, raw);
        if (_rangesUnder[rangeKey] != 0) revert ParticipantRegistryRangeOverlap(kind, prefix);
        uint256 length = raw.length;
        for (uint256 i; i <= length; ++i) {
            if (Identifiers.isBoundary(kind, raw, i) && _ranges[Identifiers.key(kind, raw[:i])] != address(0)) {
                revert ParticipantRegistryRangeOverlap(kind, prefix);
            }
        }
        _ranges[rangeKey] = registrar;
        _countUnder(_rangesUnder, kind, raw, 0, true);
        _rangeKeys[registrar].push(rangeKey);
        _rangeSlot[rangeKey] = _rangeKeys[registrar].length;
        _rangeOf[rangeKey] = Range({kind: kind, prefix: prefix});
        emit RangeDelegated(kind, prefix, registrar);
    }

    /// @inheritdoc IParticipantRegistry
    function withdraw(uint8 kind, string calldata prefix) external onlyRole(DEFAULT_ADMIN_ROLE) {
        bytes calldata raw = bytes(prefix);
        bytes32 rangeKey = Identifiers.key(kind, raw);
        address registrar = _ranges[rangeKey];
        if (registrar == address(0)) revert ParticipantRegistryNotDelegated(kind, prefix);
        delete _ranges[rangeKey];
        _countUnder(_rangesUnder, kind, raw, 0, false);
        bytes32[] storage keys = _rangeKeys[registrar];
        uint256 index = _rangeSlot[rangeKey] - 1;
        bytes32 moved = keys[keys.length - 1];
        keys[index] = moved;
        _rangeSlot[moved] = index + 1;
        keys.pop();
        delete _rangeSlot[rangeKey];
        delete _rangeOf[rangeKey];
        emit RangeWithdrawn(kind, prefix, registrar);
    }

    /// @inheritdoc IParticipantRegistry
    function license(uint32 id, uint8 kind, string calldata prefix, uint48 validFrom, uint48 validUntil)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        _existing(id);
        _license(id, kind, prefix, validFrom, validUntil);
    }

    /// @inheritdoc IParticipantRegistry
    function revoke(uint8 kind, string calldata prefix) external {
        bytes calldata raw = bytes(prefix);
        bytes32 prefixKey = Identifiers.key(kind, raw);
        Licence storage current = _currentLicences[prefixKey];
        if (!current.held) revert ParticipantRegistryNotLicensed(kind, prefix);
        if (msg.sender != _licensors[prefixKey] && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert ParticipantRegistryUnauthorizedRevocation(msg.sender);
        }
        uint48 now_ = uint48(block.number);
        uint48 until = current.validUntil;
        if (until == 0 || until > now_) until = now_;
        current.validUntil = until;
        current.held = false;
        Licence[] storage history = _licenceHistory[prefixKey];
        history[history.length - 1] = current;
        delete _licensors[prefixKey];
        _countUnder(_licencesUnder, kind, raw, _licenceFloor(kind), false);
        emit PrefixRevoked(kind, prefix, current.holder, until);
    }

    /// @inheritdoc IParticipantRegistry
    function setOpenIdentifiers(address registrar, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _open[registrar] = allowed;
        emit OpenIdentifiersSet(registrar, allowed);
    }

    /// @inheritdoc IParticipantRegistry
    function registerNode(address registrar, string calldata url)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint32 id)
    {
        if (registrar == address(0)) revert ParticipantRegistryZeroAddress();
        if (_nodeIds[registrar] != 0) revert ParticipantRegistryNodeExists(registrar);
        _requireValidUrl(url);
        id = ++_nodeCount;
        _nodeIds[registrar] = id;
        _nodeOperators[id] = registrar;
        _nodeUrls[id] = url;
        _grantRole(REGISTRAR_ROLE, registrar);
        emit NodeRegistered(id, registrar, url);
    }

    /// @inheritdoc IParticipantRegistry
    function setNodeUrl(uint32 id, string calldata url) external {
        address operator = _nodeOperators[id];
        if (operator == address(0)) revert ParticipantRegistryUnknownNode(id);
        if (msg.sender != operator && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert ParticipantRegistryUnauthorizedNodeChange(id, msg.sender);
        }
        _requireValidUrl(url);
        _nodeUrls[id] = url;
        emit NodeUrlChanged(id, url);
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
        Licence storage current = _currentLicences[Identifiers.key(_kindOf(bytes(prefix)), bytes(prefix))];
        return current.held ? current.holder : 0;
    }

    /// @inheritdoc IParticipantRegistry
    function currentLicence(bytes32 prefixKey) external view returns (Licence memory) {
        return _currentLicences[prefixKey];
    }

    /// @inheritdoc IParticipantRegistry
    function licences(uint8 kind, string calldata prefix) external view returns (Licence[] memory) {
        return _licenceHistory[Identifiers.key(kind, bytes(prefix))];
    }

    /// @inheritdoc IParticipantRegistry
    function licenceAt(uint8 kind, string calldata prefix, uint48 blockNumber)
        external
        view
        returns (Licence memory found)
    {
        Licence[] storage history = _licenceHistory[Identifiers.key(kind, bytes(prefix))];
        // Licences of one prefix follow each other without overlap: at most one is valid at a block.
        for (uint256 i = history.length; i > 0; --i) {
            Licence storage candidate = history[i - 1];
            if (_validAt(candidate, blockNumber)) return candidate;
        }
        return found;
    }

    /// @inheritdoc IParticipantRegistry
    function identifierHolders(bytes calldata identifier, uint48 blockNumber)
        external
        view
        returns (IdentifierHolders memory holders)
    {
        uint256 longest = identifier.length < Identifiers.HANDLE_MAX ? identifier.length : Identifiers.HANDLE_MAX;
        for (uint256 length; length <= longest; ++length) {
            (uint8 kind, uint256 start, bool valid) = Identifiers.split(identifier, length);
            if (!valid) {
                if (kind == Identifiers.GS1 && length >= Identifiers.GS1_MAX) break;
                continue;
            }
            holders.splits = true;
            if (kind == Identifiers.OTHER) {
                holders.open = true;
                return holders;
            }
            _readHolders(holders, Identifiers.key(kind, identifier[start:start + length]), blockNumber);
        }
    }

    /// @inheritdoc IParticipantRegistry
    function rangeHolder(uint8 kind, string calldata prefix) external view returns (address) {
        return _ranges[Identifiers.key(kind, bytes(prefix))];
    }

    /// @inheritdoc IParticipantRegistry
    function registrarOf(uint32 id) external view returns (address) {
        return _registrars[id];
    }

    /// @inheritdoc IParticipantRegistry
    function openIdentifiers(uint32 id) external view returns (bool) {
        return _open[_registrars[id]];
    }

    /// @inheritdoc IParticipantRegistry
    function node(uint32 id) external view returns (NetworkNode memory) {
        address operator = _nodeOperators[id];
        if (operator == address(0)) revert ParticipantRegistryUnknownNode(id);
        return NetworkNode({id: id, operator: operator, url: _nodeUrls[id], ranges: rangesOf(operator)});
    }

    /// @inheritdoc IParticipantRegistry
    function nodeCount() external view returns (uint32) {
        return _nodeCount;
    }

    /// @inheritdoc IParticipantRegistry
    function nodeOf(address registrar) external view returns (uint32) {
        return _nodeIds[registrar];
    }

    /// @inheritdoc IParticipantRegistry
    function rangesOf(address registrar) public view returns (Range[] memory found) {
        bytes32[] storage keys = _rangeKeys[registrar];
        uint256 count = keys.length;
        found = new Range[](count);
        for (uint256 i; i < count; ++i) {
            found[i] = _rangeOf[keys[i]];
        }
    }

    /// @dev Grants a licence after every rule of {license} but the caller's role and `id`'s existence.
    function _license(uint32 id, uint8 kind, string calldata prefix, uint48 validFrom, uint48 validUntil) private {
        if (_registrars[id] != msg.sender) revert ParticipantRegistryForeignParticipant(id, msg.sender);
        uint48 now_ = uint48(block.number);
        if (validFrom == 0) validFrom = now_;
        if (validFrom < now_ || (validUntil != 0 && validUntil <= validFrom)) {
            revert ParticipantRegistryInvalidValidity(validFrom, validUntil);
        }
        bytes32 prefixKey = _requireLicensable(kind, prefix);

        Licence memory granted = Licence({holder: id, validFrom: validFrom, validUntil: validUntil, held: true});
        _currentLicences[prefixKey] = granted;
        _licenceHistory[prefixKey].push(granted);
        _licensors[prefixKey] = msg.sender;
        _countUnder(_licencesUnder, kind, bytes(prefix), _licenceFloor(kind), true);
        emit PrefixLicensed(kind, prefix, id, validFrom, validUntil);
    }

    /// @dev `prefix` is a valid licence prefix inside a range of the caller, and no held licence is
    /// it, contains it or lies inside it. Returns its key.
    function _requireLicensable(uint8 kind, string calldata prefix) private view returns (bytes32 prefixKey) {
        bytes calldata raw = bytes(prefix);
        if (!Identifiers.isValidPrefix(kind, raw, false)) revert ParticipantRegistryInvalidPrefix(kind, prefix);
        prefixKey = Identifiers.key(kind, raw);
        if (_licencesUnder[prefixKey] != 0) revert ParticipantRegistryPrefixOverlap(kind, prefix);
        bool inRange = false;
        uint256 length = raw.length;
        for (uint256 i; i <= length; ++i) {
            if (!Identifiers.isBoundary(kind, raw, i)) continue;
            bytes32 ancestor = i == length ? prefixKey : Identifiers.key(kind, raw[:i]);
            if (_currentLicences[ancestor].held) revert ParticipantRegistryPrefixOverlap(kind, prefix);
            if (_ranges[ancestor] == msg.sender) inRange = true;
        }
        if (!inRange) revert ParticipantRegistryOutsideRange(msg.sender, kind, prefix);
    }

    /// @dev Adds one to (or takes one from) the counters of `prefix`'s proper ancestors no shorter than `floor`.
    function _countUnder(
        mapping(bytes32 => uint256) storage counters,
        uint8 kind,
        bytes calldata prefix,
        uint256 floor,
        bool add
    ) private {
        uint256 length = prefix.length;
        for (uint256 i = floor; i < length; ++i) {
            if (!Identifiers.isBoundary(kind, prefix, i)) continue;
            bytes32 ancestor = Identifiers.key(kind, prefix[:i]);
            // Cannot overflow or underflow: one count per held prefix under it, taken back once.
            unchecked {
                if (add) ++counters[ancestor];
                else --counters[ancestor];
            }
        }
    }

    /// @dev The shortest ancestor that can itself be licensed: only those ancestors' counters are read.
    function _licenceFloor(uint8 kind) private pure returns (uint256) {
        return kind == Identifiers.GS1 ? Identifiers.GS1_MIN_LICENCE : 1;
    }

    /// @dev The kind {register} reads a prefix as: a handle when it holds a dot, GS1 otherwise.
    function _kindOf(bytes calldata prefix) private pure returns (uint8) {
        for (uint256 i; i < prefix.length; ++i) {
            if (prefix[i] == ".") return Identifiers.HANDLE;
        }
        return Identifiers.GS1;
    }

    /// @dev Notes in `holders` who held a licence of the prefix stored under `prefixKey`, and
    /// whose licence was valid, at block `blockNumber` (see {identifierHolders}).
    function _readHolders(IdentifierHolders memory holders, bytes32 prefixKey, uint48 blockNumber) private view {
        Licence storage current = _currentLicences[prefixKey];
        if (current.holder == 0) return; // never licensed
        if (blockNumber >= block.number) {
            // Every earlier licence of the prefix ended by the block the current one was granted in.
            if (current.held) holders.held = current.holder;
            if (_validAt(current, blockNumber)) holders.valid = current.holder;
            return;
        }
        Licence[] storage history = _licenceHistory[prefixKey];
        for (uint256 i = history.length; i > 0; --i) {
            Licence storage candidate = history[i - 1];
            if (_validAt(candidate, blockNumber)) holders.valid = candidate.holder;
            if (candidate.validFrom <= blockNumber && (candidate.held || blockNumber < candidate.validUntil)) {
                holders.held = candidate.holder;
                return;
            }
        }
    }

    function _validAt(Licence storage licence, uint48 blockNumber) private view returns (bool) {
        return licence.holder != 0 && licence.validFrom <= blockNumber
            && (licence.validUntil == 0 || blockNumber < licence.validUntil);
    }

    /// @dev `url` is `http://` or `https://`, then a host (not a '/'), all printable ASCII
    /// without spaces, at most MAX_URL_LENGTH bytes. The rest of a URL's grammar is the
    /// reader's to check: a node's URL is a hint where to fetch, never trusted for content.
    function _requireValidUrl(string calldata url) private pure {
        bytes calldata raw = bytes(url);
        uint256 length = raw.length;
        uint256 scheme = 0;
        if (length > 8 && bytes8(raw[:8]) == bytes8("https://")) scheme = 8;
        else if (length > 7 && bytes7(raw[:7]) == bytes7("http://")) scheme = 7;
        if (scheme == 0 || length > MAX_URL_LENGTH || raw[scheme] == "/") revert ParticipantRegistryInvalidUrl(url);
        for (uint256 i = scheme; i < length; ++i) {
            bytes1 c = raw[i];
            if (c <= 0x20 || c >= 0x7f) revert ParticipantRegistryInvalidUrl(url);
        }
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
