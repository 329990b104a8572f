-- Argo CD health check for virtfleet.io GoldenImage.
-- Uses only what Argo CD opens when open libs are off (base and table): no string or math.
-- Order: not yet observed -> Progressing; Stalled=True -> Degraded; Reconciling=True or a
-- version importing -> Progressing; Ready=True -> Healthy; Ready=False with nothing under way ->
-- Degraded (so a converged image never stays Progressing).
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

local status = obj.status
local generation = obj.metadata.generation

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe the image"
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
  hs.message = messageOf(stalled, "The image is stalled")
  return hs
end

local reconciling = condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = messageOf(reconciling, "The image is reconciling")
  return hs
end

if status.versions ~= nil then
  local importing = {}
  for _, v in ipairs(status.versions) do
    if v.phase == "Importing" then
      table.insert(importing, v.name)
    end
  end
  if #importing > 0 then
    hs.status = "Progressing"
    hs.message = "Importing version " .. table.concat(importing, ", ")
    return hs
  end
end

local ready = condition(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  if status.latestVersion ~= nil and status.latestVersion ~= "" then
    hs.message = messageOf(ready, "Latest version " .. status.latestVersion)
  else
    hs.message = messageOf(ready, "The image is ready")
  end
  return hs
end

if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = messageOf(ready, "The image is not ready")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for the Ready condition")
return hs
