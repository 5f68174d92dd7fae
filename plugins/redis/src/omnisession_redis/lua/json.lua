-- Reading the recorded deltas (compact JSON objects written by omnisession's own
-- encoder) without decoding their values, so a value is copied as its exact text.

local ESCAPES = {['"'] = '"', ['\\'] = '\\', ['/'] = '/',
                 b = '\b', f = '\f', n = '\n', r = '\r', t = '\t'}

local function utf8_char(code)
  if code < 0x80 then return string.char(code) end
  if code < 0x800 then
    return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
  end
  if code < 0x10000 then
    return string.char(0xE0 + math.floor(code / 0x1000),
                       0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end
  return string.char(0xF0 + math.floor(code / 0x40000), 0x80 + math.floor(code / 0x1000) % 0x40,
                     0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

-- The bytes of a JSON string's body as Python decodes it and the store encodes a
-- state key: UTF-8, a surrogate pair as one 4-byte character, a lone surrogate as its
-- own 3 bytes (Python's 'surrogatepass').
local function unescape(body)
  if not string.find(body, '\\', 1, true) then return body end
  local out, i, size = {}, 1, #body
  while i <= size do
    local slash = string.find(body, '\\', i, true)
    if not slash then
      out[#out + 1] = string.sub(body, i)
      break
    end
    out[#out + 1] = string.sub(body, i, slash - 1)
    local kind = string.sub(body, slash + 1, slash + 1)
    if kind == 'u' then
      local code = tonumber(string.sub(body, slash + 2, slash + 5), 16)
      i = slash + 6
      if code >= 0xD800 and code <= 0xDBFF and string.sub(body, i, i + 1) == '\\u' then
        local low = tonumber(string.sub(body, i + 2, i + 5), 16)
        if low and low >= 0xDC00 and low <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          i = i + 6
        end
      end
      out[#out + 1] = utf8_char(code)
    else
      out[#out + 1] = ESCAPES[kind]
      i = slash + 2
    end
  end
  return table.concat(out)
end

-- The index just past the string that starts at text[i] (a '"').
local function string_end(text, i)
  local j = i + 1
  while true do
    local stop = string.find(text, '["\\]', j)
    if string.byte(text, stop) == 92 then j = stop + 2 else return stop + 1 end
  end
end

-- The index just past the value that starts at text[i].
local function value_end(text, i)
  local first = string.byte(text, i)
  if first == 34 then return string_end(text, i) end
  if first == 123 or first == 91 then
    local depth, j = 0, i
    while true do
      local stop = string.find(text, '[%[%]{}"]', j)
      local byte = string.byte(text, stop)
      if byte == 34 then
        j = string_end(text, stop)
      elseif byte == 123 or byte == 91 then
        depth, j = depth + 1, stop + 1
      else
        depth, j = depth - 1, stop + 1
        if depth == 0 then return j end
      end
    end
  end
  return string.find(text, '[,}%]]', i)
end

-- A compact JSON object's members as {name bytes, value text, ...}.
local function json_members(text)
  local members, i = {}, 2
  if string.byte(text, 2) == 125 then return members end
  while true do
    local key_end = string_end(text, i)
    members[#members + 1] = unescape(string.sub(text, i + 1, key_end - 2))
    local stop = value_end(text, key_end + 1)
    members[#members + 1] = string.sub(text, key_end + 1, stop - 1)
    if string.byte(text, stop) == 125 then return members end
    i = stop + 1
  end
end

-- The session state as of the last of `deltas` (recorded delta texts, false for none):
-- the `base` pairs plus the session keys (no app:/user: prefix) of each delta, as a
-- flat {name, value, ...} list.
local function state_as_of(base, deltas)
  local values, order = {}, {}
  local function put(name, value)
    if values[name] == nil then order[#order + 1] = name end
    values[name] = value
  end
  for i = 1, #base, 2 do put(base[i], base[i + 1]) end
  for _, text in ipairs(deltas) do
    if text then
      local members = json_members(text)
      for i = 1, #members, 2 do
        local name = members[i]
        if string.sub(name, 1, 4) ~= 'app:' and string.sub(name, 1, 5) ~= 'user:' then
          put(name, members[i + 1])
        end
      end
    end
  end
  local flat = {}
  for _, name in ipairs(order) do
    flat[#flat + 1] = name
    flat[#flat + 1] = values[name]
  end
  return flat
end
