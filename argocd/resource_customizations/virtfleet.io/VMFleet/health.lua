-- Argo CD health check for virtfleet.io VMFleet.
-- Uses only what Argo CD opens when open libs are off (base and table): no string or math.
-- Order: not yet observed -> Progressing; Stalled=True -> Degraded; spec.paused -> Suspended;
-- a migration, rollout or reconcile under way -> Progressing; Ready=True -> Healthy.
local hs = {}

local function condition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local spec = obj.spec or {}
local status = obj.status
local generation = obj.metadata.generation

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe the fleet"
  return hs
end

if generation ~= nil and generation > status.observedGeneration then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. generation .. " (status is at " .. status.observedGeneration .. ")"
  return hs
end

local conditions = status.conditions
local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = messageOf(stalled, "The fleet is stalled")
  return hs
end

if spec.paused == true then
  hs.status = "Suspended"
  hs.message = "The fleet is paused (spec.paused): changes to the template are not rolled out"
  return hs
end

local replicas = spec.replicas
if replicas == nil then
  replicas = 1
end
local strategy = spec.updateStrategy or {}
-- OnDelete updates a VM only when someone deletes it: outdated VMs are no rollout under way
-- once the fleet has the right number of VMs.
local onDeleteSettled = strategy.type == "OnDelete" and status.replicas == replicas

if status.migratingReplicas ~= nil and status.migratingReplicas > 0 then
  hs.status = "Progressing"
  hs.message = status.migratingReplicas .. " VMs are migrating"
  return hs
end

if not onDeleteSettled then
  local progressing = condition(conditions, "Progressing")
  if progressing ~= nil and progressing.status == "True" and progressing.reason ~= "NewRevisionAvailable" then
    hs.status = "Progressing"
    hs.message = messageOf(progressing, "The rollout is under way")
    return hs
  end

  local reconciling = condition(conditions, "Reconciling")
  if reconciling ~= nil and reconciling.status == "True" then
    hs.status = "Progressing"
    hs.message = messageOf(reconciling, "The fleet is reconciling")
    return hs
  end

  -- VMs below the partition keep the current revision on purpose (canaries), so only the VMs
  -- at or above it must be updated.
  local partition = 0
  if strategy.rollingUpdate ~= nil and strategy.rollingUpdate.partition ~= nil then
    partition = strategy.rollingUpdate.partition
  end
  local mustUpdate = replicas - partition
  if strategy.type == "OnDelete" or mustUpdate < 0 then
    mustUpdate = 0
  end
  local updated = status.updatedReplicas or 0
  if updated < mustUpdate then
    hs.status = "Progressing"
    hs.message = updated .. "/" .. replicas .. " VMs at the update revision"
    return hs
  end
end

local ready = condition(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "All VMs are ready")
  if onDeleteSettled and status.updatedReplicas ~= nil and status.updatedReplicas < replicas then
    hs.message = hs.message .. "; " .. status.updatedReplicas .. "/" .. replicas .. " at the update revision, the others update when deleted (OnDelete)"
  end
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for the Ready condition")
return hs
