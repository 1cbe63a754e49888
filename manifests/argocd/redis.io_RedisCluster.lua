-- Argo CD health check for redis.io/RedisCluster (Lua 5.1, as Argo CD runs it).
--   Progressing: no status yet, the controller has not acted on the latest spec (observedGeneration), a
--                promotion is running, or Ready is not settled yet.
--   Degraded:    a promotion failed, Ready is False for a reason that is not progress, the replication link
--                of a replicating cluster is down (ReplicationHealthy False/LinkDown) or cannot be checked, or a
--                referenced Secret is missing (SecretsAvailable False).
--   Healthy:     Ready is True and, while replicating, the link is up. A promoted cluster (ReplicaMode
--                False/Promoted) is healthy: it is the primary now.
local hs = {}

-- Reasons of a False Ready condition that mean "getting there", not "broken".
local progressingReasons = {
  Provisioning = true,
  Creating = true,
  Scaling = true,
  Syncing = true,
  Initializing = true,
  Reconciling = true,
  Pending = true,
  PodsNotReady = true,
  NoPrimary = true,
  Promoting = true,
  Demoting = true,
}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function messageOf(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to report status"
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. string.format("%d", generation)
  return hs
end

local promotion = status.promotion
if promotion ~= nil and promotion.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Promotion failed: " .. (promotion.message or "see the RedisCluster's Events")
  return hs
end
if promotion ~= nil
  and (promotion.phase == "CatchingUp" or promotion.phase == "Promoting" or promotion.phase == "Reattaching")
then
  hs.status = "Progressing"
  hs.message = "Promotion in progress (" .. promotion.phase .. ")"
  if promotion.message ~= nil and promotion.message ~= "" then
    hs.message = hs.message .. ": " .. promotion.message
  end
  return hs
end

local ready = findCondition(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. string.format("%d", generation)
  return hs
end

if ready.status == "True" then
  -- A DR cluster whose link is broken is not healthy, even with every pod ready.
  local replication = findCondition(status.conditions, "ReplicationHealthy")
  if replication ~= nil and replication.status ~= "True" then
    if replication.reason == "Syncing" then
      hs.status = "Progressing"
    else
      hs.status = "Degraded"
    end
    hs.message = messageOf(replication, "Replication is not healthy (" .. tostring(replication.reason) .. ")")
    return hs
  end
  -- A referenced Secret that went missing leaves the cluster running but unable to change (or to re-attach).
  local secrets = findCondition(status.conditions, "SecretsAvailable")
  if secrets ~= nil and secrets.status == "False" then
    hs.status = "Degraded"
    hs.message = messageOf(secrets, "A referenced Secret is missing")
    return hs
  end
  hs.status = "Healthy"
  local replicaMode = findCondition(status.conditions, "ReplicaMode")
  if replicaMode ~= nil and (replicaMode.reason == "Promoted" or replicaMode.status == "True") then
    hs.message = messageOf(replicaMode, messageOf(ready, "Ready"))
  else
    hs.message = messageOf(ready, "Ready")
  end
  return hs
end

if ready.status == "False" and not progressingReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = messageOf(ready, "Not ready (" .. tostring(ready.reason) .. ")")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Not ready yet")
return hs
